// Sandbox behaviour: remove subscriber panels cleanly, keep the chat input focused and
// scrolled. 4xx answers are swapped in place by htmx's responseHandling (base.html), where
// the server's HX-Retarget puts them. No inline script anywhere (strict CSP).
(function () {
  "use strict";

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

  // Keep the newest chat line and the newest panel message in view. When a demo run ends
  // (the blocking demo's or a worker embed's), an old "you already have a run going" under
  // the Start button is no longer true.
  document.addEventListener("htmx:sseMessage", function (evt) {
    var elt = evt.target;
    if (elt && elt.matches && elt.matches(".sb-summary")) {
      var demo = elt.closest("[data-sb-demo], [data-sb-workers]");
      var slot = demo && demo.querySelector("[id$='-start-error']");
      if (slot) { slot.textContent = ""; }
      // The demo's pair: Stop goes once both runs have ended.
      var pair = elt.closest("[data-sb-demo-pair]");
      if (pair && !pair.querySelector("[data-sb-run] .sb-summary:empty")) {
        var stop = pair.querySelector("[data-sb-demo-stop-form]");
        if (stop) { stop.hidden = true; }
      }
    }
    if (elt && elt.matches && elt.matches(".sb-chat-lines, .sb-chat-here-list")) {
      markOwn(elt);
    }
    if (elt && elt.matches && elt.matches(".sb-messages")) {
      markLatest(elt);
    }
    if (elt && elt.matches && elt.matches(".sb-chat-lines, .sb-messages, .sb-log")) {
      elt.scrollTop = elt.scrollHeight;
    }
  });

  // The playground's snippets follow its forms as the learner types: PSUBSCRIBE shows
  // psubscribe(...), and the channel, pattern and message typed show up, with the real
  // (namespaced) name. A Python string literal of the text, as redis-py would be called.
  function pyString(text) {
    return JSON.stringify(text);
  }

  function setSnip(code, name, text) {
    code.querySelectorAll("[data-sb-snip='" + name + "']").forEach(function (span) {
      span.textContent = text;
    });
  }

  function followForms(playground) {
    var prefix = "";
    var sub = playground.querySelector("[data-sb-snippet='subscribe']");
    var pub = playground.querySelector("[data-sb-snippet='publish']");
    var kind = playground.querySelector("select[name=kind]");
    var name = playground.querySelector("input[name=name]");
    var channel = playground.querySelector("input[name=channel]");
    var message = playground.querySelector("textarea[name=message]");
    if (sub && kind && name) {
      prefix = sub.getAttribute("data-prefix") || "";
      var pattern = kind.value === "pattern";
      setSnip(sub, "method", pattern ? "psubscribe" : "subscribe");
      setSnip(sub, "target", pyString(prefix + name.value.trim()));
    }
    if (pub && channel && message) {
      prefix = pub.getAttribute("data-prefix") || "";
      setSnip(pub, "channel", pyString(prefix + channel.value.trim()));
      setSnip(pub, "message", pyString(message.value));
    }
  }

  ["input", "change"].forEach(function (type) {
    document.addEventListener(type, function (evt) {
      var playground = evt.target.closest && evt.target.closest("[data-sb-playground]");
      if (playground && evt.target.matches("select, input, textarea")) { followForms(playground); }
    });
  });
  document.querySelectorAll("[data-sb-playground]").forEach(followForms);
  document.addEventListener("htmx:load", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.querySelectorAll) {
      elt.querySelectorAll("[data-sb-playground]").forEach(followForms);
    }
  });

  // The panel that got the latest message is marked (a class and a label that says so);
  // subscribe confirmations do not count.
  function markLatest(list) {
    var last = list.lastElementChild;
    if (!last || !last.matches(".sb-msg-message, .sb-msg-pmessage")) { return; }
    var panel = list.closest("[data-sb-panel]");
    var playground = panel && panel.closest("[data-sb-playground]");
    if (!playground) { return; }
    playground.querySelectorAll("[data-sb-panel].sb-latest").forEach(function (other) {
      other.classList.remove("sb-latest");
      var badge = other.querySelector(".sb-latest-badge");
      if (badge) { badge.hidden = true; }
    });
    panel.classList.add("sb-latest");
    var mine = panel.querySelector(".sb-latest-badge");
    if (mine) { mine.hidden = false; }
  }

  // Chat lines and the who-is-here list are rendered once for every tab in the room, so
  // this tab marks its own: a class for the eye and "(you)" for screen readers. Nicknames
  // are unique in a room, so the nickname says whose a line is.
  function markOwn(list) {
    var chat = list.closest("[data-sb-chat]");
    var mine = chat && chat.getAttribute("data-my-nick");
    if (!mine) { return; }
    list.querySelectorAll("[data-nick]:not([data-own-checked])").forEach(function (item) {
      item.setAttribute("data-own-checked", "");
      if (item.getAttribute("data-nick") !== mine) { return; }
      item.classList.add("sb-own");
      var you = document.createElement("span");
      you.className = "sb-you";
      you.textContent = " (you)";
      var nick = item.querySelector(".sb-chat-nick") || item;
      nick.appendChild(you);
    });
  }
})();
