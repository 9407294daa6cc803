// Pricing Rules page: rule dialogs, the reapply dialog with its preview, the active-job panel
// (polled every 3 s until the job ends) and the job history table.
(function () {
  "use strict";
  var DP = window.DP, el = DP.el;
  var BASE = "/api/v2/pricing-rules";
  var ACTIVE = { pending: true, running: true };
  var BADGES = { pending: "warning", running: "info", completed: "success", failed: "error", reverted: "neutral", cancelled: "neutral" };
  var POLL_MS = 3000;
  var feeds = JSON.parse(document.getElementById("feeds-data").textContent || "[]");
  var panel = document.getElementById("active-job");
  var reapplyButton = document.getElementById("reapply");
  var pollTimer = null;

  // ---- rule add / edit / deactivate -------------------------------------------------------
  var ruleDialog = document.getElementById("rule-dialog");
  var ruleForm = document.getElementById("rule-form");
  var editingRuleId = null;

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (p) { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (input) { input.removeAttribute("aria-invalid"); });
    form.querySelectorAll(".alert-error").forEach(function (box) { box.hidden = true; box.textContent = ""; });
  }

  function showErrors(form, failure, formError) {
    var details = (failure.error && Array.isArray(failure.error.details)) ? failure.error.details : [];
    var placed = false;
    details.forEach(function (detail) {
      var target = form.querySelector('[data-error-for="' + detail.field + '"]');
      if (target) {
        target.textContent = detail.message;
        var input = form.querySelector('[name="' + detail.field + '"]');
        if (input) input.setAttribute("aria-invalid", "true");
        placed = true;
      }
    });
    if (!placed || failure.status !== 422) {
      formError.textContent = (failure.error && failure.error.message) || "Something went wrong.";
      formError.hidden = false;
    }
    var firstInvalid = form.querySelector('[aria-invalid="true"]');
    if (firstInvalid) firstInvalid.focus();
  }

  function openRuleDialog(rule) {
    clearErrors(ruleForm);
    ruleForm.reset();
    editingRuleId = rule ? rule.id : null;
    document.getElementById("rule-dialog-title").textContent = rule ? "Edit rule (priority " + rule.priority + ")" : "Add rule";
    if (rule) {
      ["priority", "stone_type", "feed", "price_min", "price_max", "margin_modifier", "rating"].forEach(function (name) {
        var input = ruleForm.elements[name];
        input.value = rule[name] === null || rule[name] === undefined ? "" : rule[name];
      });
    }
    DP.openDialog(ruleDialog);
    ruleForm.elements.priority.focus();
  }

  function ruleBody() {
    var body = {};
    ["priority", "stone_type", "feed", "price_min", "price_max", "margin_modifier", "rating"].forEach(function (name) {
      var raw = ruleForm.elements[name].value.trim();
      if (raw === "") { if (editingRuleId) body[name] = null; return; }
      body[name] = (name === "priority" || name === "rating") && /^-?\d+$/.test(raw) ? Number(raw) : raw;
    });
    if (editingRuleId && body.margin_modifier === null) delete body.margin_modifier;
    if (editingRuleId && body.priority === null) delete body.priority;
    if (ruleForm.elements.recalculate_pricing.checked) body.recalculate_pricing = true;
    return body;
  }

  ruleForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(ruleForm);
    var request = editingRuleId ? DP.api("PUT", BASE + "/" + editingRuleId, ruleBody()) : DP.api("POST", BASE, ruleBody());
    request.then(function (rule) {
      DP.closeDialog(ruleDialog);
      sessionStorage.setItem("dp-toast", rule.reapply_job_id ? "Rule saved; repricing started." : "Rule saved.");
      window.location.reload();
    }, function (failure) { showErrors(ruleForm, failure, document.getElementById("rule-form-error")); });
  });

  document.getElementById("add-rule").addEventListener("click", function () { openRuleDialog(null); });

  var deactivateDialog = document.getElementById("deactivate-dialog");
  var deactivateForm = document.getElementById("deactivate-form");
  var deactivatingRule = null;
  deactivateForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(deactivateForm);
    var query = document.getElementById("deactivate-recalculate").checked ? "?recalculate_pricing=true" : "";
    DP.api("DELETE", BASE + "/" + deactivatingRule.id + query).then(function (rule) {
      DP.closeDialog(deactivateDialog);
      sessionStorage.setItem("dp-toast", rule && rule.reapply_job_id ? "Rule deactivated; repricing started." : "Rule deactivated.");
      window.location.reload();
    }, function (failure) { showErrors(deactivateForm, failure, document.getElementById("deactivate-error")); });
  });

  document.getElementById("rules-table").addEventListener("click", function (event) {
    var row = event.target.closest("tr[data-rule]");
    if (!row) return;
    var rule = JSON.parse(row.getAttribute("data-rule"));
    if (event.target.closest("[data-edit-rule]")) openRuleDialog(rule);
    if (event.target.closest("[data-deactivate-rule]")) {
      deactivatingRule = rule;
      clearErrors(deactivateForm);
      deactivateForm.reset();
      document.getElementById("deactivate-text").textContent = "The rule with priority " + rule.priority +
        " stops applying to new prices. Existing prices change only when pricing is reapplied.";
      DP.openDialog(deactivateDialog);
    }
  });

  // ---- reapply dialog with preview -----------------------------------------------------------
  var reapplyDialog = document.getElementById("reapply-dialog");
  var reapplyForm = document.getElementById("reapply-form");
  var previewBox = document.getElementById("preview");
  var confirmButton = document.getElementById("reapply-confirm");
  var belowCostBox = document.getElementById("below-cost");
  var allowBelowCost = document.getElementById("allow-below-cost");
  var lastPreview = null;
  var previewSeq = 0;

  var scopeBox = document.getElementById("scope-feeds");
  feeds.forEach(function (feed, index) {
    var id = "scope-feed-" + index;
    scopeBox.appendChild(el("label", { className: "checkbox", "for": id }, [
      el("input", { type: "checkbox", id: id, value: feed, "data-scope-feed": "" }), el("span", { text: feed })]));
  });

  function chosenScope() {
    var some = reapplyForm.querySelector('input[name="scope"][value="some"]').checked;
    if (!some) return null;
    var chosen = Array.prototype.map.call(reapplyForm.querySelectorAll("[data-scope-feed]:checked"), function (box) { return box.value; });
    return { feeds: chosen };
  }

  function stat(label, value, extraClass) {
    return el("div", { className: "stat" }, [el("div", { className: "value " + (extraClass || ""), text: value }), el("div", { className: "label", text: label })]);
  }

  function renderPreview(p) {
    previewBox.innerHTML = "";
    previewBox.appendChild(el("p", { id: "preview-summary" }, [
      el("strong", { text: DP.count(p.will_change) }), " of " + DP.count(p.total_diamonds) + " available diamonds will change price."]));
    previewBox.appendChild(el("div", { className: "preview-grid" }, [
      stat("price up", DP.count(p.price_up), "up"), stat("price down", DP.count(p.price_down), "down"),
      stat("unchanged", DP.count(p.unchanged)), stat("below cost", DP.count(p.below_cost))]));
    previewBox.appendChild(el("p", {}, ["Total retail value: ", el("strong", { text: DP.money(p.value_before) }), " → ", el("strong", { text: DP.money(p.value_after) })]));
    var rows = (p.by_feed || []).map(function (row) {
      return el("tr", {}, [el("td", { text: row.feed }), el("td", { className: "num", text: DP.count(row.will_change) }),
        el("td", { className: "num", text: DP.count(row.price_up) }), el("td", { className: "num", text: DP.count(row.price_down) }),
        el("td", { className: "num", text: DP.money(row.value_before) + " → " + DP.money(row.value_after) })]);
    });
    if (rows.length) {
      previewBox.appendChild(el("table", { className: "table", id: "preview-by-feed" }, [
        el("caption", { className: "sr-only", text: "Impact by feed" }),
        el("thead", {}, [el("tr", {}, ["Feed", "Will change", "Up", "Down", "Value"].map(function (h) { return el("th", { scope: "col", text: h }); }))]),
        el("tbody", {}, rows)]));
    }
    previewBox.setAttribute("aria-busy", "false");
    belowCostBox.hidden = !(p.below_cost > 0);
    document.getElementById("below-cost-text").textContent = p.below_cost > 0 ?
      DP.count(p.below_cost) + " diamonds would be priced below their supplier cost with these rules." : "";
    updateConfirm();
  }

  function updateConfirm() {
    var scope = chosenScope();
    var ok = lastPreview && !(scope && scope.feeds.length === 0) && (!(lastPreview.below_cost > 0) || allowBelowCost.checked);
    confirmButton.disabled = !ok;
    confirmButton.textContent = lastPreview ? "Reapply pricing to " + DP.count(lastPreview.total_diamonds) + " diamonds" : "Reapply pricing";
  }

  function loadPreview() {
    var seq = ++previewSeq;
    lastPreview = null;
    updateConfirm();
    var scope = chosenScope();
    if (scope && scope.feeds.length === 0) { previewBox.innerHTML = '<p class="muted">Choose at least one feed.</p>'; return; }
    previewBox.setAttribute("aria-busy", "true");
    previewBox.innerHTML = '<p class="muted">Calculating the impact…</p>';
    DP.api("POST", BASE + "/reapply/preview", scope ? { scope: scope } : {}).then(function (p) {
      if (seq !== previewSeq) return;
      lastPreview = p; renderPreview(p);
    }, function (failure) {
      if (seq !== previewSeq) return;
      previewBox.innerHTML = "";
      previewBox.appendChild(el("p", { className: "alert alert-error", role: "alert", text: "Preview failed: " + failure.error.message }));
    });
  }

  reapplyButton.addEventListener("click", function () {
    document.getElementById("reapply-error").hidden = true;
    allowBelowCost.checked = false;
    DP.openDialog(reapplyDialog);
    loadPreview();
  });
  reapplyForm.addEventListener("change", function (event) {
    if (event.target === allowBelowCost) { updateConfirm(); return; }
    loadPreview();
  });
  reapplyForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = {};
    var scope = chosenScope();
    if (scope) body.scope = scope;
    if (allowBelowCost.checked) body.allow_below_cost = true;
    confirmButton.disabled = true;
    DP.api("POST", BASE + "/reapply", body).then(function (job) {
      DP.closeDialog(reapplyDialog);
      DP.toast("Repricing started.");
      watchJob(job);
      loadHistory();
    }, function (failure) {
      var box = document.getElementById("reapply-error");
      box.textContent = failure.error.message; box.hidden = false;
      if (failure.status === 409 && failure.error.details && failure.error.details.job) watchJob(failure.error.details.job);
      updateConfirm();
    });
  });

  // ---- active job panel -----------------------------------------------------------------------
  function progressText(job) {
    var total = job.total_diamonds || 0, done = job.processed_diamonds || 0;
    var pct = total ? Math.floor((done / total) * 100) : (ACTIVE[job.status] ? 0 : 100);
    var parts = [DP.count(done) + " / " + DP.count(total) + " diamonds (" + pct + "%)", "updated " + DP.count(job.updated_diamonds)];
    if (job.kind === "revert") parts.push("skipped " + DP.count(job.skipped_diamonds));
    if (job.rate_per_second) parts.push(DP.count(Math.round(job.rate_per_second)) + " diamonds/s");
    if (job.eta_seconds !== null && job.eta_seconds !== undefined && ACTIVE[job.status]) parts.push("about " + DP.duration(0, job.eta_seconds * 1000) + " left");
    parts.push(job.status);
    return { pct: pct, text: parts.join(" · ") };
  }

  function renderActive(job) {
    var progress = progressText(job);
    panel.hidden = false;
    panel.setAttribute("data-job-id", job.id);
    panel.setAttribute("data-status", job.status);
    document.getElementById("active-job-title").textContent = (job.kind === "revert" ? "Revert" : "Repricing") +
      (ACTIVE[job.status] ? " in progress" : " " + job.status);
    var bar = document.getElementById("job-progress");
    bar.value = progress.pct;
    bar.textContent = progress.pct + "%";
    document.getElementById("job-progress-text").textContent = progress.text;
    var cancel = document.getElementById("cancel-job");
    cancel.hidden = !ACTIVE[job.status];
    reapplyButton.disabled = !!ACTIVE[job.status];
  }

  function watchJob(job) {
    clearTimeout(pollTimer);
    renderActive(job);
    if (!ACTIVE[job.status]) { jobEnded(job); return; }
    pollTimer = setTimeout(function () { poll(job.id); }, POLL_MS);
  }

  function poll(jobId) {
    DP.api("GET", BASE + "/reapply/jobs/" + jobId).then(watchJob, function () {
      pollTimer = setTimeout(function () { poll(jobId); }, POLL_MS);
    });
  }

  function jobEnded(job) {
    pollTimer = null;
    var banner = document.getElementById("stale-banner");
    var fullScope = !job.scope || !job.scope.feeds || !job.scope.feeds.length;
    if (banner && job.kind === "reapply" && job.status === "completed" && fullScope) banner.hidden = true;
    panel.setAttribute("data-polling", "stopped");
    DP.toast((job.kind === "revert" ? "Revert " : "Repricing ") + job.status + ".");
    loadHistory();
  }

  document.getElementById("cancel-job").addEventListener("click", function () {
    var jobId = panel.getAttribute("data-job-id");
    confirmAction("Cancel this job?", "The job stops after the batch in progress. Diamonds already repriced keep their new prices; you can revert them from the history.",
      "Cancel job", function () { return DP.api("POST", BASE + "/reapply/jobs/" + jobId + "/cancel"); });
  });

  // ---- history ----------------------------------------------------------------------------------
  function statusBadge(status) {
    return el("span", { className: "badge badge-" + (BADGES[status] || "neutral"), text: status });
  }

  function jobActions(job) {
    var cell = el("td", { className: "actions" }, [el("a", { href: "/jobs/" + job.id, className: "btn btn-small", text: "View", "aria-label": "View job " + job.id.slice(0, 8) })]);
    if (job.revertible) {
      var revert = el("button", { type: "button", className: "btn btn-small btn-danger", text: "Revert", "data-revert-job": job.id, "aria-label": "Revert job " + job.id.slice(0, 8) });
      revert.addEventListener("click", function () { confirmRevert(job); });
      cell.appendChild(revert);
    }
    if (job.status === "failed") {
      var resume = el("button", { type: "button", className: "btn btn-small", text: "Resume", "data-resume-job": job.id, "aria-label": "Resume job " + job.id.slice(0, 8) });
      resume.addEventListener("click", function () {
        confirmAction("Resume this job?", "It continues from where it stopped, with the same frozen rules.", "Resume",
          function () { return DP.api("POST", BASE + "/reapply/jobs/" + job.id + "/resume"); });
      });
      cell.appendChild(resume);
    }
    return cell;
  }

  function trigger(job) {
    var how = { manual: "manual", rule_create: "rule created", rule_update: "rule edited", rule_delete: "rule deactivated", revert: "revert" }[job.trigger_type] || job.trigger_type;
    return how + (job.triggered_by ? " by " + job.triggered_by : "");
  }

  function loadHistory() {
    DP.api("GET", BASE + "/reapply/jobs?limit=20").then(function (page) {
      var body = document.getElementById("jobs-body");
      body.innerHTML = "";
      var jobs = page.jobs || [];
      if (!jobs.length) body.appendChild(el("tr", {}, [el("td", { colspan: "11", className: "muted", text: "No repricing jobs yet." })]));
      jobs.forEach(function (job) {
        body.appendChild(el("tr", { "data-job-id": job.id, "data-status": job.status }, [
          el("td", {}, [statusBadge(job.status)]), el("td", { text: job.kind }), el("td", { text: trigger(job) }),
          el("td", { className: "num", text: DP.count(job.processed_diamonds) }), el("td", { className: "num", text: DP.count(job.updated_diamonds) }),
          el("td", { className: "num", text: DP.count(job.skipped_diamonds) }), el("td", { text: (job.feeds_affected || []).join(", ") || "–" }),
          el("td", { text: DP.duration(job.started_at, job.completed_at) }), el("td", { text: DP.when(job.created_at) }),
          el("td", { text: job.error || "" }), jobActions(job)]));
      });
      var active = jobs.filter(function (job) { return ACTIVE[job.status]; })[0];
      if (active && !pollTimer) watchJob(active);
      if (!active) reapplyButton.disabled = false;
    }, function (failure) { DP.toast("Could not load the history: " + failure.error.message); });
  }

  // ---- confirmations -----------------------------------------------------------------------------
  var confirmDialog = document.getElementById("confirm-dialog");
  var confirmForm = document.getElementById("confirm-form");
  var pendingAction = null;

  function confirmAction(title, text, okLabel, action) {
    document.getElementById("confirm-title").textContent = title;
    var box = document.getElementById("confirm-text");
    box.innerHTML = "";
    (Array.isArray(text) ? text : [text]).forEach(function (line) { box.appendChild(el("p", { text: line })); });
    document.getElementById("confirm-ok").textContent = okLabel;
    document.getElementById("confirm-error").hidden = true;
    pendingAction = action;
    DP.openDialog(confirmDialog);
  }

  confirmForm.addEventListener("submit", function (event) {
    event.preventDefault();
    pendingAction().then(function (job) {
      DP.closeDialog(confirmDialog);
      if (job && job.id) watchJob(job);
      loadHistory();
    }, function (failure) {
      var box = document.getElementById("confirm-error");
      box.textContent = failure.error.message; box.hidden = false;
    });
  });

  function confirmRevert(job) {
    confirmAction("Revert this repricing?", [
      "The " + DP.count(job.updated_diamonds) + " diamonds this job changed get their previous price, markup and rating back, in the background.",
      "Diamonds whose price changed since the job (a feed update or another job) are skipped and listed on the job page, so no newer price is overwritten.",
      "Storefront caches switch to the restored prices when the revert finishes."], "Revert job",
      function () { return DP.api("POST", BASE + "/reapply/jobs/" + job.id + "/revert"); });
  }

  var message = sessionStorage.getItem("dp-toast");
  if (message) { sessionStorage.removeItem("dp-toast"); DP.toast(message); }
  loadHistory();
  var activeId = panel.getAttribute("data-job-id");
  if (activeId) poll(activeId);
})();
