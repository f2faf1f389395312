// Chasqui console: live updates. The server says (server-sent events) that the workspace
// changed; the page fetches itself again and swaps in the parts marked data-swap. No inline
// script anywhere (the Content-Security-Policy forbids it), nothing from another origin.
(function () {
  "use strict";

  function scrollMessages() {
    var list = document.querySelector("ol.messages");
    if (list) { list.scrollTop = list.scrollHeight; }
  }

  // Swaps each data-swap part for its new version. The composer is kept (with what is being
  // typed) unless the window opened or closed.
  function swap(doc) {
    document.querySelectorAll("[data-swap]").forEach(function (old) {
      var name = old.getAttribute("data-swap");
      var fresh = doc.querySelector('[data-swap="' + name + '"]');
      if (!fresh) { return; }
      if (name === "composer" && old.getAttribute("data-window") === fresh.getAttribute("data-window")) {
        return;
      }
      old.replaceWith(document.importNode(fresh, true));
    });
    scrollMessages();
  }

  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) {
        if (r.redirected && r.url.indexOf("/console/login") >= 0) {
          location.assign(r.url);
          return null;
        }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html) { swap(new DOMParser().parseFromString(html, "text/html")); }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    scrollMessages();
    if (!document.querySelector("[data-live]") || !window.EventSource) { return; }
    var events = new EventSource("/console/events");
    events.addEventListener("change", refresh);
    events.addEventListener("refresh", refresh);
  });
})();
