// perdure console: local times, theme, live updates, confirmations. No dependencies.
(function () {
  "use strict";
  var pad = function (n) { return String(n).padStart(2, "0"); };
  function localTimes(root) {
    root.querySelectorAll("time[data-ms]").forEach(function (el) {
      var d = new Date(Number(el.dataset.ms));
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
      el.title = d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    });
  }
  // Theme: follows the system unless chosen here; the choice is remembered.
  var theme = document.getElementById("theme");
  if (theme) theme.addEventListener("click", function () {
    var root = document.documentElement;
    var dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
    try { localStorage.setItem("perdure-theme", root.dataset.theme); } catch (e) { /* private mode */ }
  });
  // "/" focuses the search box.
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target && ev.target.tagName) || "";
    if (ev.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(tag)) {
      var box = document.getElementById("q") || document.getElementById("jump");
      if (box) { ev.preventDefault(); box.focus(); box.select(); }
    }
  });
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.dataset && ev.target.dataset.confirm;
    if (msg && !window.confirm(msg)) ev.preventDefault();
  }, true);
  // Time filters: the browser's local date-time, sent as epoch milliseconds.
  document.querySelectorAll("input[data-utc]").forEach(function (input) {
    var hidden = input.nextElementSibling;
    if (hidden && hidden.value && /^\d+$/.test(hidden.value)) {
      var d = new Date(Number(hidden.value));
      input.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
    }
    input.addEventListener("change", function () {
      hidden.value = input.value ? String(new Date(input.value).getTime()) : "";
    });
  });
  // Live updates: poll a fragment; swap it in only when it changed, keeping open/closed
  // sections and anything being typed.
  function keepState(oldRoot, newRoot) {
    oldRoot.querySelectorAll("details[id]").forEach(function (d) {
      var twin = newRoot.querySelector("details#" + CSS.escape(d.id));
      if (twin) twin.open = d.open;
    });
  }
  function poll(box, every) {
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      var state = box.querySelector("[data-open]");
      if (state && state.dataset.open === "0") return;  // a closed execution no longer changes
      if (box.contains(document.activeElement) && /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) return;
      if (box.querySelector("textarea") && Array.prototype.some.call(box.querySelectorAll("textarea, input:not([type=hidden])"), function (t) { return t.value; })) return;
      busy = true;
      fetch(box.dataset.live + (box.dataset.live.indexOf("?") < 0 ? "?" : "&") + "partial=1", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var tmp = document.createElement("div");
          tmp.innerHTML = html;
          var first = tmp.querySelector("[data-version]");
          var current = box.querySelector("[data-version]");
          if (first && current && first.dataset.version === current.dataset.version) return;
          keepState(box, tmp);
          box.innerHTML = tmp.innerHTML;
          localTimes(box);
          box.dispatchEvent(new CustomEvent("perdure:updated", { bubbles: true }));
        })
        .catch(function () { /* the server restarts: try again next time */ })
        .finally(function () { busy = false; });
    }, every);
  }
  localTimes(document);
  var list = document.getElementById("executions");
  if (list && list.dataset.live) poll(list, 2000);
  var live = document.getElementById("live");
  if (live && live.dataset.live) poll(live, 1500);
})();
