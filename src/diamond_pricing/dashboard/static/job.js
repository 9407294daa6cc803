// Job page: summary (refreshed while active), the frozen rule set, and paged changes.
(function () {
  "use strict";
  var DP = window.DP, el = DP.el;
  var jobId = document.getElementById("job-summary").getAttribute("data-job-id");
  var BASE = "/api/v2/pricing-rules/reapply/jobs/" + jobId;
  var BADGES = { pending: "warning", running: "info", completed: "success", failed: "error", reverted: "neutral", cancelled: "neutral" };
  var nextCursor = null;

  function row(label, value) { return el("tr", {}, [el("th", { scope: "row", text: label }), el("td", {}, [value])]); }

  function renderSummary(job) {
    var box = document.getElementById("summary-body");
    box.innerHTML = "";
    var badge = el("span", { className: "badge badge-" + (BADGES[job.status] || "neutral"), text: job.status });
    box.appendChild(el("table", { className: "table" }, [el("tbody", {}, [
      row("Status", badge), row("Kind", job.kind + (job.reverts_job_id ? " of " + job.reverts_job_id : "")),
      row("Trigger", job.trigger_type + (job.triggered_by ? " by " + job.triggered_by : "")),
      row("Diamonds", DP.count(job.processed_diamonds) + " processed of " + DP.count(job.total_diamonds) + ", " +
        DP.count(job.updated_diamonds) + " updated, " + DP.count(job.skipped_diamonds) + " skipped, " + DP.count(job.failed_diamonds) + " failed"),
      row("Feeds affected", (job.feeds_affected || []).join(", ") || "–"),
      row("Scope", job.scope && job.scope.feeds && job.scope.feeds.length ? "feeds: " + job.scope.feeds.join(", ") : "all available diamonds"),
      row("Created", DP.when(job.created_at)), row("Duration", DP.duration(job.started_at, job.completed_at)),
      row("Revertible", job.revertible ? "yes" : "no" + (job.reverted_by_job_id ? " (reverted by " + job.reverted_by_job_id + ")" : "")),
      row("Error", job.error || "–")])]));
    renderRules(job.rules_snapshot);
    if (job.status === "pending" || job.status === "running") setTimeout(loadSummary, 3000);
  }

  function renderRules(snapshot) {
    var box = document.getElementById("rules-snapshot");
    box.innerHTML = "";
    if (!snapshot || !snapshot.rules) { box.appendChild(el("p", { className: "muted", text: "This job has no rule set (a revert restores snapshots)." })); return; }
    var margins = snapshot.base_margins || {};
    box.appendChild(el("p", { className: "muted", text: "Base margins: natural " + margins.natural + "%, lab " + margins.lab + "%, fancy " + margins.fancy + "%." }));
    var rows = snapshot.rules.map(function (r) {
      return el("tr", {}, [el("td", { className: "num", text: String(r.priority) }), el("td", { text: r.stone_type || "any" }), el("td", { text: r.feed || "all" }),
        el("td", { text: (r.price_min || "0") + " – " + (r.price_max || "∞") }), el("td", { className: "num", text: r.margin_modifier }),
        el("td", { className: "num", text: r.rating === null || r.rating === undefined ? "–" : String(r.rating) })]);
    });
    box.appendChild(el("table", { className: "table" }, [
      el("thead", {}, [el("tr", {}, ["Priority", "Stone type", "Feed", "Cost range", "Modifier", "Rating"].map(function (h) { return el("th", { scope: "col", text: h }); }))]),
      el("tbody", {}, rows)]));
  }

  function loadSummary() { DP.api("GET", BASE).then(renderSummary, function (f) { document.getElementById("summary-body").textContent = f.error.message; }); }

  function changesUrl(cursor) {
    var params = new URLSearchParams({ limit: "100" });
    var feed = document.getElementById("changes-feed").value.trim();
    if (feed) params.set("feed", feed);
    if (cursor) params.set("cursor", cursor);
    return BASE + "/changes?" + params.toString();
  }

  function loadChanges(reset) {
    var body = document.getElementById("changes-body");
    if (reset) { body.innerHTML = ""; nextCursor = null; }
    DP.api("GET", changesUrl(reset ? null : nextCursor)).then(function (page) {
      (page.changes || []).forEach(function (c) {
        body.appendChild(el("tr", {}, [el("td", {}, [el("code", { text: String(c.diamond_id).slice(0, 8) })]), el("td", { text: c.feed }),
          el("td", { className: "num", text: DP.money(c.old_price_model_price) }), el("td", { className: "num", text: DP.money(c.new_price_model_price) }),
          el("td", { className: "num", text: c.old_markup_ratio || "–" }), el("td", { className: "num", text: c.new_markup_ratio || "–" }),
          el("td", { className: "num", text: c.old_rating === null ? "–" : String(c.old_rating) }), el("td", { className: "num", text: c.new_rating === null ? "–" : String(c.new_rating) }),
          el("td", { text: c.status && c.status !== "applied" ? c.status : "" })]));
      });
      if (!body.children.length) body.appendChild(el("tr", {}, [el("td", { colspan: "9", className: "muted", text: "No changes." })]));
      nextCursor = page.next_cursor;
      document.getElementById("more-changes").hidden = !nextCursor;
    }, function (f) { DP.toast("Could not load changes: " + f.error.message); });
  }

  document.getElementById("changes-filter").addEventListener("submit", function (event) {
    event.preventDefault();
    var feed = document.getElementById("changes-feed").value.trim();
    document.getElementById("csv-link").href = BASE + "/changes?format=csv" + (feed ? "&feed=" + encodeURIComponent(feed) : "");
    loadChanges(true);
  });
  document.getElementById("more-changes").addEventListener("click", function () { loadChanges(false); });
  loadSummary();
  loadChanges(true);
})();
