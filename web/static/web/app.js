/* The web app's behaviour beyond plain HTML (which every page works without): the session
   timer, keyboard shortcuts, and small helpers for htmx. No inline code anywhere: the
   Content-Security-Policy allows none. */
(function () {
  "use strict";

  var BACKGROUND = { "X-Clinic-Background": "1" };

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* --- The session timer ------------------------------------------------------------------
     The server decides when the session ends (web/session.py); this shows the warning before,
     and at the end removes the page's content from the DOM and goes to the sign-in page, which
     returns here. It asks the server before warning or ending (another tab may have acted). */
  function sessionTimer() {
    var body = document.body;
    if (!body.dataset.signedIn) return;
    var idle = Number(body.dataset.idleSeconds) * 1000;
    var warn = Number(body.dataset.warningSeconds) * 1000;
    var deadline = Date.now() + idle;
    var box = document.getElementById("session-warning");
    var countdown = box && box.querySelector("[data-session-countdown]");
    var checking = false;
    var warned = false;
    var ended = false;

    function words(ms) {
      var s = Math.max(0, Math.ceil(ms / 1000));
      if (s >= 60) {
        var m = Math.ceil(s / 60);
        return m + (m === 1 ? " minute" : " minutes");
      }
      return s + (s === 1 ? " second" : " seconds");
    }

    function showWarning() {
      if (!box || warned) return;
      warned = true;
      if (countdown) countdown.textContent = words(deadline - Date.now());
      box.hidden = false;
      var button = box.querySelector("[data-session-extend]");
      if (button) button.focus();
    }

    function hideWarning() {
      if (!box || !warned) return;
      warned = false;
      box.hidden = true;
    }

    function end() {
      if (ended) return;
      ended = true;
      var here = location.pathname + location.search;
      var note = document.createElement("p");
      note.className = "clinic-expired";
      note.textContent = "You have been signed out. Opening the sign-in page…";
      // The content goes from the DOM, not just from view.
      document.body.replaceChildren(note);
      location.assign("/login/?expired=1&next=" + encodeURIComponent(here));
    }

    function ask() {
      if (checking) return;
      checking = true;
      fetch("/session/status", { headers: BACKGROUND, credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (state) {
          if (!state.signed_in || state.remaining_seconds <= 0) return end();
          deadline = Date.now() + state.remaining_seconds * 1000;
          if (deadline - Date.now() > warn) hideWarning();
        })
        .catch(function () {
          if (Date.now() >= deadline) end(); // no answer and our own clock says it is over
        })
        .finally(function () { checking = false; });
    }

    function tick() {
      var left = deadline - Date.now();
      if (left <= 0) return ask();
      if (left <= warn) {
        if (!warned) { ask(); showWarning(); }
        else if (countdown) countdown.textContent = words(left);
      }
    }

    function activity() {
      deadline = Date.now() + idle;
      hideWarning();
    }

    document.body.addEventListener("htmx:afterRequest", function (event) {
      var headers = (event.detail.requestConfig && event.detail.requestConfig.headers) || {};
      if (headers["X-Clinic-Background"] !== "1" && event.detail.xhr && event.detail.xhr.status < 400) activity();
    });

    if (box) {
      box.addEventListener("click", function (event) {
        if (!event.target.closest("[data-session-extend]")) return;
        fetch("/session/extend", {
          method: "POST",
          headers: { "X-CSRFToken": csrfToken() },
          credentials: "same-origin",
        })
          .then(function (r) { return r.json(); })
          .then(function (state) {
            if (!state.signed_in) return end();
            deadline = Date.now() + state.remaining_seconds * 1000;
            hideWarning();
          });
      });
    }
    setInterval(tick, 1000);
  }

  /* --- Keyboard shortcuts -----------------------------------------------------------------
     Listed on each screen that has them. None fires while the user types in a field, except
     Ctrl+Enter, which signs the form that asks for it (the order basket). */
  function typing(target) {
    return !!(target.closest && target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  function rows(list) {
    return Array.prototype.slice.call(list.querySelectorAll("[data-row]"));
  }

  function onKey(event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var form = (target.closest && target.closest("form[data-ctrl-enter]")) || document.querySelector("form[data-ctrl-enter]");
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey || typing(target)) return;
    if (event.key === "/") {
      var search = document.querySelector("[data-search-focus]");
      if (search) {
        event.preventDefault();
        search.focus();
        if (search.select) search.select();
      }
      return;
    }
    var list = document.querySelector("[data-keyboard-list]");
    if (!list) return;
    var all = rows(list);
    if (!all.length) return;
    var row = target.closest && target.closest("[data-row]");
    var index = row ? all.indexOf(row) : -1;
    if (event.key === "ArrowDown" || event.key === "j") {
      event.preventDefault();
      all[Math.min(index + 1, all.length - 1)].focus();
    } else if (event.key === "ArrowUp" || event.key === "k") {
      event.preventDefault();
      all[Math.max(index - 1, 0)].focus();
    } else if (event.key === "Enter" && row && target === row) {
      var open = row.querySelector("[data-open]");
      if (open) {
        event.preventDefault();
        open.click();
      }
    } else if (event.key === "a" && row) {
      var ack = row.querySelector("[data-ack]");
      if (ack) {
        event.preventDefault();
        var comment = ack.dataset.needsComment && row.querySelector("[data-ack-comment]");
        if (comment) comment.focus();
        else ack.click();
      }
    }
  }

  /* After htmx replaces a list the row in focus is gone: focus the row with the same key. */
  function keepFocus() {
    var remembered = null;
    document.body.addEventListener("htmx:beforeSwap", function () {
      var active = document.activeElement;
      remembered = active && active.dataset && active.dataset.row ? active.dataset.row : null;
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      if (!remembered) return;
      var again = document.querySelector('[data-row="' + CSS.escape(remembered) + '"]');
      if (again) again.focus();
      remembered = null;
    });
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("DOMContentLoaded", function () {
    sessionTimer();
    keepFocus();
  });
})();
