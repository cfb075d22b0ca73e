// Sandbox behaviour: show 4xx answers in place, remove subscriber panels cleanly,
// keep the chat input focused and scrolled. No inline script anywhere (strict CSP).
(function () {
  "use strict";

  function inSandbox(elt) {
    return elt && elt.closest && elt.closest(".sb, .sb-chat, .sb-run");
  }

  // htmx does not swap error answers by default; the sandbox's 4xx/503 answers are short
  // messages meant for the page (the server picks the target with HX-Retarget).
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (status >= 400 && status < 600 && inSandbox(evt.detail.elt)) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  // Remember each panel's EventSource so that removing the panel closes it at once
  // (the server then unsubscribes and closes its Redis connection).
  document.addEventListener("htmx:sseOpen", function (evt) {
    var elt = evt.detail.elt || evt.target;
    if (elt) { elt.sandboxSource = evt.detail.source; }
  });

  function closePanel(panel) {
    if (window.htmx) { window.htmx.trigger(panel, "htmx:beforeCleanupElement"); }
    if (panel.sandboxSource) { panel.sandboxSource.close(); }
    var list = panel.parentElement;
    panel.remove();
    if (list) {
      var form = list.closest("[data-sb-playground]");
      var input = form && form.querySelector("input[name=name]");
      // "At most 4 panels" is no longer true once one is gone.
      var error = form && form.querySelector("[id$='-add-error']");
      if (error) { error.textContent = ""; }
      if (input) { input.focus(); }
    }
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-sb-remove]");
    if (!button) { return; }
    var panel = button.closest("[data-sb-panel]");
    if (panel) { closePanel(panel); }
  });

  // After sending a chat line the form is replaced; put the cursor back in the new one.
  var refocusChat = false;
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    refocusChat = !!(elt && elt.matches && elt.matches(".sb-chat-form"));
  });
  document.addEventListener("htmx:load", function (evt) {
    var elt = evt.detail.elt;
    if (refocusChat && elt && elt.matches && elt.matches(".sb-chat-form")) {
      refocusChat = false;
      var input = elt.querySelector("input[name=text]");
      if (input) { input.focus(); }
    }
  });

  // Keep the newest chat line and the newest panel message in view. When a demo run ends,
  // an old "you already have a run going" under the Start button is no longer true.
  document.addEventListener("htmx:sseMessage", function (evt) {
    var elt = evt.target;
    if (elt && elt.matches && elt.matches(".sb-summary")) {
      var demo = elt.closest("[data-sb-demo]");
      var slot = demo && demo.querySelector("[id$='-start-error']");
      if (slot) { slot.textContent = ""; }
    }
    if (elt && elt.matches && elt.matches(".sb-chat-lines, .sb-messages, .sb-log")) {
      elt.scrollTop = elt.scrollHeight;
    }
  });
})();
