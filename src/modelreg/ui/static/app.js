// The web UI's script: progressive only (every page works without it). No framework, no inline handlers (CSP).
// - copy buttons: <button data-copy="text" hidden> is shown and copies its text;
// - confirm: a form with data-confirm="Archive model X?" asks before it is sent;
// - search as you type: a field with data-autosubmit submits its form 300 ms after the last change;
// - live status (deploy pages): an element with data-poll="URL" is refilled from URL every second while what it
//   holds says data-moving="true";
// - the deploy wizard: picking a hardware profile re-marks the runtimes compatible with it and, until a runtime
//   is picked by hand, selects the one suggested for it.
(function () {
  "use strict";

  function copy(button) {
    var text = button.getAttribute("data-copy") || "";
    var done = function () {
      var label = button.firstChild ? button.firstChild.nodeValue : "";
      button.classList.add("copied");
      if (button.firstChild) { button.firstChild.nodeValue = "Copied"; }
      window.setTimeout(function () {
        button.classList.remove("copied");
        if (button.firstChild) { button.firstChild.nodeValue = label; }
      }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selectable */ }
    document.body.removeChild(area);
  }

  function poll(box) {
    var last = null, busy = false;
    var timer = window.setInterval(function () {
      var state = box.querySelector("[data-moving]");
      if (!state || state.getAttribute("data-moving") !== "true") { window.clearInterval(timer); return; }
      if (busy || document.hidden) { return; }
      busy = true;
      window.fetch(box.getAttribute("data-poll"), { cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && html !== last) { last = html; box.innerHTML = html; } },
              function () { /* offline a moment: ask again */ })
        .then(function () { busy = false; });
    }, 1000);
  }

  function wizard(form) {
    var picked = false, runtimes = form.querySelectorAll("input[name=runtime]");
    runtimes.forEach(function (r) { r.addEventListener("change", function () { picked = true; }); });
    form.querySelectorAll("input[name=profile]").forEach(function (profile) {
      profile.addEventListener("change", function () {
        var suggested = profile.getAttribute("data-suggest");
        runtimes.forEach(function (r) {
          var fits = (" " + r.getAttribute("data-compatible") + " ").indexOf(" " + profile.value + " ") >= 0;
          var item = r.closest("li"), mark = function (name, shown) {
            var pill = item.querySelector("[data-mark=" + name + "]");
            if (pill) { pill.hidden = !shown; }
          };
          mark("compatible", fits);
          mark("suggested", r.value === suggested);
          if (!picked && suggested && r.value === suggested) { r.checked = true; }
        });
      });
    });
  }

  function init() {
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("form.deploy-wizard").forEach(wizard);

    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { copy(button); });
    });

    document.addEventListener("submit", function (event) {
      var form = event.target;
      var question = form.getAttribute && form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) { event.preventDefault(); }
    });

    document.querySelectorAll("[data-autosubmit]").forEach(function (field) {
      var form = field.form;
      if (!form) { return; }
      var timer = null;
      var submit = function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          try { if (field.id) { window.sessionStorage.setItem("modelreg-autofocus", field.id); } } catch (e) { /* private mode */ }
          if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
        }, 300);
      };
      field.addEventListener(field.tagName === "SELECT" ? "change" : "input", submit);
    });

    // typing goes on in the field that submitted the page, after the new page loaded
    try {
      var id = window.sessionStorage.getItem("modelreg-autofocus");
      window.sessionStorage.removeItem("modelreg-autofocus");
      var again = id && document.getElementById(id);
      if (again && again.hasAttribute("data-autosubmit")) {
        again.focus();
        if (again.setSelectionRange && again.value) { again.setSelectionRange(again.value.length, again.value.length); }
      }
    } catch (e) { /* private mode */ }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
