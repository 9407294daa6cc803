// Shared helpers: JSON API calls with the session's CSRF token, formatting, dialogs, toasts.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 401) { window.location.href = "/login?next=" + encodeURIComponent(location.pathname); }
      return response.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (!response.ok) {
          var error = (json && json.error) || { code: "http_" + response.status, message: response.statusText };
          return Promise.reject({ status: response.status, error: error });
        }
        return json ? json.data : null;
      });
    });
  }

  function money(value) {
    if (value === null || value === undefined || value === "") return "–";
    var n = Number(value);
    return "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function count(value) { return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US"); }
  function when(iso) { return iso ? new Date(iso).toLocaleString() : "–"; }
  function duration(start, end) {
    if (!start) return "–";
    var seconds = Math.max(0, ((end ? new Date(end) : new Date()) - new Date(start)) / 1000);
    if (seconds < 60) return seconds.toFixed(1) + " s";
    var m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    return m < 60 ? m + " min " + s + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "className") node.className = attrs[name];
      else if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child); });
    return node;
  }
  var lastFocus = null;
  function openDialog(dialog) { lastFocus = document.activeElement; dialog.showModal(); }
  function closeDialog(dialog) { dialog.close(); if (lastFocus && lastFocus.focus) lastFocus.focus(); }
  function toast(message) {
    var box = document.getElementById("toast");
    box.textContent = message; box.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(function () { box.hidden = true; }, 5000);
  }
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) { event.preventDefault(); closeDialog(closer.closest("dialog")); }
  });
  window.DP = { api: api, money: money, count: count, when: when, duration: duration, el: el,
                openDialog: openDialog, closeDialog: closeDialog, toast: toast };
})();
