// The operator console's only script: it makes pages live, and every page works without
// it. Served from /console/static/console.js (the Content-Security-Policy allows no
// inline script). It reads figures as JSON from the console's own routes and writes them
// with textContent only, never as HTML.
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function getJson(url, done) {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      if (xhr.status === 200) {
        try { done(JSON.parse(xhr.responseText)); } catch (e) { /* leave the page as it is */ }
      }
    };
    xhr.send();
  }

  // The audience filter: the patient count (or the error and its column) as you type.
  document.querySelectorAll("[data-filter-count]").forEach(function (box) {
    var out = document.getElementById(box.getAttribute("data-filter-count"));
    var check = debounce(function () {
      if (!box.value.trim()) { out.textContent = ""; return; }
      getJson("/console/audience/count?filter=" + encodeURIComponent(box.value), function (r) {
        out.textContent = r.error ? "Not yet a filter: " + r.error : r.count + " patients match.";
      });
    }, 300);
    box.addEventListener("input", check);
  });

  // Field names: the identifier rule's verdict as you type.
  document.querySelectorAll("[data-check-name]").forEach(function (input) {
    var outId = input.getAttribute("data-check-name");
    var out = outId ? document.getElementById(outId) : null;
    if (!out) { return; }
    var check = debounce(function () {
      if (!input.value) { out.textContent = ""; return; }
      getJson("/console/forms/check-name?name=" + encodeURIComponent(input.value), function (r) {
        out.textContent = r.problem ? r.problem : "This name can be used.";
      });
    }, 250);
    input.addEventListener("input", check);
  });

  // The campaign dashboard: refresh the figures every two seconds until the send is done.
  var board = document.getElementById("board");
  if (board && board.hasAttribute("data-status-url")) {
    var url = board.getAttribute("data-status-url");
    var stamp = document.getElementById("board-updated");
    var refresh = function () {
      getJson(url, function (b) {
        var figures = { state: b.state, response_percent: b.response_percent };
        Object.keys(b.funnel).forEach(function (k) { figures["funnel." + k] = b.funnel[k]; });
        b.channels.forEach(function (c) {
          ["percent", "sent", "failed", "suppressed", "remaining"].forEach(function (k) {
            figures[c.channel + "." + k] = c[k];
          });
          var bar = board.querySelector('[data-progress="' + c.channel + '"]');
          if (bar) { bar.value = c.percent; bar.textContent = c.percent + "%"; }
        });
        board.querySelectorAll("[data-figure]").forEach(function (el) {
          var v = figures[el.getAttribute("data-figure")];
          if (v !== undefined) { el.textContent = String(v); }
        });
        if (stamp) { stamp.textContent = "Updated " + new Date().toLocaleTimeString(); }
      });
    };
    setInterval(refresh, 2000);
  }
})();
