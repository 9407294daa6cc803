// Diamonds page: read-only catalog search through the public catalog API.
(function () {
  "use strict";
  var DP = window.DP, el = DP.el;
  var form = document.getElementById("search-form");
  var nextCursor = null;

  function query(cursor) {
    var params = new URLSearchParams({ limit: "50" });
    new FormData(form).forEach(function (value, name) { if (String(value).trim() !== "") params.set(name, String(value).trim()); });
    if (cursor) params.set("cursor", cursor);
    return "/api/v2/diamonds?" + params.toString();
  }

  function load(reset) {
    var body = document.getElementById("diamonds-body");
    var error = document.getElementById("search-error");
    error.hidden = true;
    if (reset) { body.innerHTML = ""; nextCursor = null; }
    DP.api("GET", query(reset ? null : nextCursor)).then(function (page) {
      (page.diamonds || []).forEach(function (d) {
        body.appendChild(el("tr", {}, [el("td", { text: d.feed }), el("td", { text: d.supplier_stone_id }), el("td", { text: d.stone_type }),
          el("td", { className: "num", text: d.carats || "–" }), el("td", { text: [d.shape, d.color, d.clarity].filter(Boolean).join(" ") }),
          el("td", { className: "num", text: DP.money(d.feed_price) }), el("td", { className: "num", text: DP.money(d.price_model_price) }),
          el("td", { className: "num", text: d.markup_ratio || "–" }), el("td", { className: "num", text: d.rating === null ? "–" : String(d.rating) }),
          el("td", { text: d.availability })]));
      });
      if (!body.children.length) body.appendChild(el("tr", {}, [el("td", { colspan: "10", className: "muted", text: "No diamonds match." })]));
      nextCursor = page.next_cursor;
      document.getElementById("more-diamonds").hidden = !nextCursor;
    }, function (f) {
      var details = Array.isArray(f.error.details) ? f.error.details.map(function (d) { return d.field + ": " + d.message; }).join("; ") : "";
      error.textContent = f.error.message + (details ? " (" + details + ")" : ""); error.hidden = false;
    });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); load(true); });
  document.getElementById("more-diamonds").addEventListener("click", function () { load(false); });
  load(true);
})();
