// The one-time login link carries the key in the URL fragment (never sent to the server or logged):
// fill the form from it, drop it from the address bar, and submit.
(function () {
  "use strict";
  var match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  var input = document.getElementById("key");
  input.value = decodeURIComponent(match[1]);
  history.replaceState(null, "", window.location.pathname + window.location.search);
  document.getElementById("login-form").submit();
})();
