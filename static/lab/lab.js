/* The code lab: each server-rendered [data-lab] section becomes an editor (LabEditor, from
   static/vendor/codemirror/lab-editor.js, loaded before this file) with Run and Reset, a
   status line, the run's output streamed over Server-Sent Events, and the checks' verdict.
   Without JavaScript the section shows the lesson's code as it is. Everything the server
   or the learner sends is shown with textContent, never as HTML. No inline script or
   style (strict CSP). */
(function () {
  "use strict";

  var DRAFT_DELAY_MS = 1500;
  var STREAM_ERRORS_BEFORE_GIVING_UP = 3;
  var LOST = "Lost the connection to the run; press Run again.";
  var NO_ANSWER = "The site did not answer; check your connection and press Run again.";
  var counter = 0;

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) { return headers["X-CSRFToken"]; }
    } catch (e) { /* fall back to the cookie */ }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function post(url, fields, keepalive) {
    var body = new FormData();
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(
        function (json) { return { status: response.status, json: json }; },
        function () { return { status: response.status, json: null }; }
      );
    });
  }

  function errorSentence(res) {
    if (res.json && typeof res.json.error === "string" && res.json.error) { return res.json.error; }
    return "The site answered " + res.status + "; wait a moment and try again.";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = text; }
    return node;
  }

  // Only links of the site (or plain http/https ones) are followed: never javascript: URLs.
  function safeHref(href) {
    try {
      var url = new URL(String(href), window.location.href);
      return (url.protocol === "http:" || url.protocol === "https:") ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function seconds(ms) { return (Math.max(0, Number(ms) || 0) / 1000).toFixed(2) + " s"; }

  function queueText(position) {
    var ahead = Math.max(0, parseInt(position, 10) || 0);
    return "Waiting for a runner: " + (ahead ? ahead + " ahead of you." : "you are next.");
  }

  /* A plain textarea with the editor's API, should lab-editor.js be missing: the lab still
     works, Tab leaves the field as usual and Ctrl/Cmd-Enter still runs. */
  function textareaEditor(parent, options) {
    var area = el("textarea", "lab-fallback-editor");
    area.value = options.doc;
    area.spellcheck = false;
    area.setAttribute("aria-label", options.label);
    if (options.describedBy) { area.setAttribute("aria-describedby", options.describedBy); }
    area.rows = Math.max(10, options.doc.split("\n").length + 1);
    area.addEventListener("input", function () { options.onChange(area.value); });
    area.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        options.onRun(area.value);
      }
    });
    parent.appendChild(area);
    return {
      view: null,
      getValue: function () { return area.value; },
      setValue: function (text) {
        if (area.value === text) { return; }
        area.value = text;
        options.onChange(text);
      },
      focus: function () { area.focus(); },
      destroy: function () { area.remove(); }
    };
  }

  function Lab(root) {
    this.root = root;
    this.id = "lab-" + (++counter);
    this.runUrl = root.dataset.labRunUrl || "";
    this.draftUrl = root.dataset.labDraftUrl || "";
    this.block = root.dataset.labBlock || "";
    this.exercise = root.dataset.labExercise || "";
    var source = root.querySelector("textarea[data-lab-source]");
    var draft = root.querySelector("textarea[data-lab-draft]");
    this.source = source ? source.value : "";
    var saved = draft ? draft.value : "";
    this.lastSaved = saved || this.source;
    this.running = false;
    this.stream = null;
    this.draftTimer = null;
    this.build(saved || this.source);
    this.setupHints();
    // A lesson's page is the same for every reader: its blocks fetch the learner's draft.
    if (!saved && this.draftUrl && root.hasAttribute("data-lab-fetch-draft")) { this.fetchDraft(); }
    // The server marks a solution the learner has earned on an earlier visit.
    var solution = root.querySelector("[data-lab-solution][data-lab-solution-ready]");
    if (solution) { solution.hidden = false; }
  }

  Lab.prototype.build = function (doc) {
    var self = this;
    var root = this.root;
    var title = root.querySelector(".lab-title");
    var name = title ? title.textContent.replace(/\s+/g, " ").trim() : "";
    var anchor = root.querySelector("noscript");

    var staticCode = root.querySelector(".lab-static");
    if (staticCode) { staticCode.hidden = true; }

    var rich = !!(window.LabEditor && typeof window.LabEditor.create === "function");
    var ui = el("div", "lab-ui");
    var hint = el("p", "visually-hidden", (rich
      ? "Tab moves on until you type in the editor; then Tab indents the line, and to " +
        "leave the editor you press Escape and then Tab (Shift and Tab to go back). "
      : "") + "Control and Enter, or Command and Enter on a Mac, runs the code.");
    hint.id = this.id + "-keys";
    var mount = el("div", "lab-editor");
    ui.appendChild(hint);
    ui.appendChild(mount);

    var toolbar = el("div", "lab-toolbar");
    this.runButton = el("button", "lab-run", "Run");
    this.runButton.type = "button";
    this.resetButton = el("button", "lab-reset", "Reset to the lesson's code");
    this.resetButton.type = "button";
    this.draftNote = el("small", "lab-draft-note");
    toolbar.appendChild(this.runButton);
    toolbar.appendChild(this.resetButton);
    toolbar.appendChild(this.draftNote);
    ui.appendChild(toolbar);

    this.status = el("p", "lab-status");
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    ui.appendChild(this.status);

    // role=group: a <pre> may not carry aria-label on its own (no role of its own).
    this.output = el("pre", "lab-output");
    this.output.setAttribute("tabindex", "0");
    this.output.setAttribute("role", "group");
    this.output.setAttribute("aria-label", "Output");
    this.output.hidden = true;
    this.result = el("p", "lab-result");
    this.result.hidden = true;
    this.verdict = el("div", "lab-verdict");
    this.verdict.hidden = true;
    ui.appendChild(this.output);
    ui.appendChild(this.result);
    ui.appendChild(this.verdict);

    // After the static code, before the exercise's hints and solution (and the noscript).
    var after = staticCode || root.querySelector("textarea[data-lab-draft]") ||
      root.querySelector("textarea[data-lab-source]") || title;
    if (after && after.parentNode === root) {
      root.insertBefore(ui, after.nextSibling);
    } else if (anchor) {
      root.insertBefore(ui, anchor);
    } else {
      root.appendChild(ui);
    }

    var options = {
      doc: doc,
      label: name ? "Python code: " + name : "Python code",
      describedBy: hint.id,
      onChange: function () { self.changed(); },
      onRun: function () { self.run(); }
    };
    this.editor = rich
      ? window.LabEditor.create(mount, options)
      : textareaEditor(mount, options);
    // A lesson holds many editors: Tab moves through the page (it never gets stuck in an
    // editor) until the learner starts typing in one; from then on Tab indents there, and
    // Escape then Tab leaves it.
    var view = this.editor.view;
    // Focusable by its own attribute too, so a long line's sideways scroll region counts as
    // reachable by keyboard (axe's scrollable-region-focusable; it is, through the caret).
    if (view && view.contentDOM) { view.contentDOM.setAttribute("tabindex", "0"); }
    if (view && typeof view.setTabFocusMode === "function") {
      view.setTabFocusMode(true);
      view.contentDOM.addEventListener("keydown", function typing(event) {
        if (event.key.length === 1 || event.key === "Enter" || event.key === "Backspace") {
          view.setTabFocusMode(false);
          view.contentDOM.removeEventListener("keydown", typing);
        }
      });
    }

    this.runButton.addEventListener("click", function () { self.run(); });
    this.resetButton.addEventListener("click", function () { self.reset(); });
    this.updateReset();
  };

  Lab.prototype.updateReset = function () {
    this.resetButton.disabled = this.editor.getValue() === this.source;
  };

  Lab.prototype.changed = function () {
    var self = this;
    this.updateReset();
    if (!this.draftUrl) { return; }
    if (this.draftTimer) { clearTimeout(this.draftTimer); }
    this.draftTimer = setTimeout(function () {
      self.draftTimer = null;
      self.saveDraft(false);
    }, DRAFT_DELAY_MS);
  };

  Lab.prototype.fetchDraft = function () {
    var self = this;
    var url = this.draftUrl + "?block=" + encodeURIComponent(this.block);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data || typeof data.code !== "string" || !data.code) { return; }
        // Only if the learner has not started typing meanwhile.
        if (self.editor.getValue() === self.source) {
          self.lastSaved = data.code;
          self.editor.setValue(data.code);
        }
      })
      .catch(function () { /* no draft: the lesson's code stays */ });
  };

  Lab.prototype.saveDraft = function (keepalive) {
    var self = this;
    var code = this.editor.getValue();
    if (code === this.lastSaved) { return; }
    post(this.draftUrl, { block: this.block, code: code }, keepalive).then(function (res) {
      if (res.status >= 200 && res.status < 300) {
        self.lastSaved = code;
        self.draftNote.textContent = "";
      } else {
        self.draftNote.textContent = "Not saved: " + errorSentence(res);
      }
    }, function () {
      self.draftNote.textContent = "Not saved: the site did not answer.";
    });
  };

  // A draft waiting for its delay goes now (the page is being left or replaced).
  Lab.prototype.flushDraft = function () {
    if (!this.draftTimer) { return; }
    clearTimeout(this.draftTimer);
    this.draftTimer = null;
    this.saveDraft(true);
  };

  Lab.prototype.reset = function () {
    if (this.editor.getValue() === this.source) { return; }
    this.editor.setValue(this.source);
    this.updateReset();
    // The button is now disabled: the focus goes back to the code instead of the page.
    this.editor.focus();
    this.say(this.editor.view
      ? "The lesson's code is back. Undo (Control and Z) brings your version back."
      : "The lesson's code is back.");
  };

  Lab.prototype.say = function (text, done) {
    this.status.textContent = text;
    this.status.classList.toggle("lab-status-done", !!done);
  };

  Lab.prototype.setRunning = function (running) {
    this.running = running;
    // aria-disabled rather than disabled: a keyboard user who pressed Run keeps the focus
    // on the button instead of being dropped at the top of the page.
    if (running) {
      this.runButton.setAttribute("aria-disabled", "true");
    } else {
      this.runButton.removeAttribute("aria-disabled");
    }
    // (No aria-busy on the section: screen readers would hold back its status line.)
    this.runButton.textContent = running ? "Running\u2026" : "Run";
  };

  Lab.prototype.run = function () {
    var self = this;
    if (this.running || !this.runUrl) { return; }
    var code = this.editor.getValue();
    // The run saves the draft on the server: no need to send it again.
    if (this.draftTimer) { clearTimeout(this.draftTimer); this.draftTimer = null; }
    this.setRunning(true);
    this.clearRun();
    this.say("Sending your code\u2026");
    var fields = { code: code, block: this.block, exercise: this.exercise };
    post(this.runUrl, fields, false).then(function (res) {
      if (res.status === 202 && res.json && res.json.stream) {
        self.lastSaved = code;
        self.say(queueText(res.json.position));
        self.listen(res.json.stream);
        return;
      }
      self.say(errorSentence(res));
      self.setRunning(false);
    }, function () {
      self.say(NO_ANSWER);
      self.setRunning(false);
    });
  };

  Lab.prototype.clearRun = function () {
    this.marks = [];
    if (this.timeline) { this.timeline.remove(); this.timeline = null; }
    this.output.textContent = "";
    this.output.hidden = false;
    this.lastChunk = null;
    this.result.textContent = "";
    this.result.className = "lab-result";
    this.result.hidden = true;
    this.verdict.textContent = "";
    this.verdict.className = "lab-verdict";
    this.verdict.hidden = true;
  };

  Lab.prototype.listen = function (url) {
    var self = this;
    var source = new EventSource(url);
    var errors = 0;
    this.stream = source;
    function handle(name, fn) {
      source.addEventListener(name, function (event) {
        if (self.stream !== source) { return; }
        errors = 0;
        var data = {};
        try { data = JSON.parse(event.data || "{}") || {}; } catch (e) { data = {}; }
        fn(data);
      });
    }
    handle("queued", function (data) { self.say(queueText(data.position)); });
    handle("started", function () { self.say("Running\u2026"); });
    handle("out", function (data) { self.append(data.stream, data.text); });
    handle("mark", function (data) { self.marks.push(data); });
    handle("done", function (data) { self.finish(data); });
    source.addEventListener("error", function () {
      if (self.stream !== source) { return; }
      errors += 1;
      // The browser retries by itself (the server resumes after Last-Event-ID), unless the
      // answer closed the stream for good.
      if (errors >= STREAM_ERRORS_BEFORE_GIVING_UP || source.readyState === EventSource.CLOSED) {
        self.closeStream();
        self.say(LOST, true);
        self.showResult(LOST, "bad");
        self.setRunning(false);
      }
    });
  };

  Lab.prototype.closeStream = function () {
    if (this.stream) { this.stream.close(); }
    this.stream = null;
  };

  // Output arrives in chunks that may end mid-line: appended as they are, stderr in its own
  // class. The panel follows the newest line unless the learner has scrolled up to read.
  Lab.prototype.append = function (stream, text) {
    if (typeof text !== "string" || !text) { return; }
    var panel = this.output;
    var atBottom = panel.scrollHeight - panel.scrollTop - panel.clientHeight < 8;
    var kind = stream === "stderr" ? "stderr" : "stdout";
    if (this.lastChunk && this.lastChunk.kind === kind) {
      this.lastChunk.node.appendData(text);
    } else {
      var node = document.createTextNode(text);
      if (kind === "stderr") {
        var span = el("span", "lab-stderr");
        span.appendChild(node);
        panel.appendChild(span);
      } else {
        panel.appendChild(node);
      }
      this.lastChunk = { kind: kind, node: node };
    }
    if (atBottom) { panel.scrollTop = panel.scrollHeight; }
  };

  // The main-loop timeline of lesson 3, from the learner's own labkit.tick() and
  // labkit.heard() calls: one row per thread, a tick or a message at its time.
  Lab.prototype.showTimeline = function () {
    var marks = this.marks || [];
    if (this.timeline) { this.timeline.remove(); this.timeline = null; }
    if (!marks.length) { return; }
    var end = Math.max.apply(null, marks.map(function (m) { return Number(m.ms) || 0; })) || 1;
    var rows = {};
    var order = [];
    marks.forEach(function (m) {
      var name = String(m.thread || "main");
      if (!rows[name]) { rows[name] = []; order.push(name); }
      rows[name].push(m);
    });
    var box = el("figure", "lab-timeline");
    var ticks = marks.filter(function (m) { return m.kind === "tick"; }).length;
    var heard = marks.filter(function (m) { return m.kind === "message"; }).length;
    var caption = el("figcaption", null, "Timeline: " + ticks + " tick" + (ticks === 1 ? "" : "s") +
      " and " + heard + " message" + (heard === 1 ? "" : "s") + " over " + seconds(end) +
      " (one row per thread)");
    box.appendChild(caption);
    order.forEach(function (name) {
      var row = el("div", "lab-timeline-row");
      row.appendChild(el("span", "lab-timeline-thread", name));
      var track = el("div", "lab-timeline-track");
      track.setAttribute("aria-hidden", "true");
      rows[name].forEach(function (m) {
        var dot = el("span", m.kind === "message" ? "lab-timeline-message" : "lab-timeline-tick");
        dot.style.left = (100 * (Number(m.ms) || 0) / end) + "%";
        dot.title = (m.kind === "message" ? "message " + String(m.data) : "tick") + " at " +
          Math.round(Number(m.ms) || 0) + " ms";
        track.appendChild(dot);
      });
      row.appendChild(track);
      box.appendChild(row);
    });
    this.result.insertAdjacentElement("afterend", box);
    this.timeline = box;
  };

  Lab.prototype.showResult = function (text, tone) {
    this.result.textContent = text;
    this.result.className = "lab-result lab-result-" + tone;
    this.result.hidden = false;
  };

  Lab.prototype.finish = function (data) {
    this.closeStream();
    var message = typeof data.message === "string" ? data.message.trim() : "";
    var text;
    var tone;
    if (data.reason === "finished") {
      var exit = data.exit_code;
      text = "Finished, " + (exit == null ? "" : "exit status " + exit + ", ") + seconds(data.wall_ms);
      if (message && message.replace(/\.$/, "") !== text) { text += ". " + message; }
      tone = exit === 0 || exit == null ? "ok" : "bad";
    } else {
      text = message || "The run stopped (" + String(data.reason || "error") + ").";
      tone = "bad";
    }
    if (!this.output.firstChild) { this.output.appendChild(el("span", "lab-empty", "(no output)")); }
    this.showResult(text, tone);
    this.showTimeline();
    var spoken = text;
    if (data.verdict && typeof data.verdict === "object") {
      this.showVerdict(data.verdict);
      spoken += " " + (data.verdict.passed ? "All checks passed." : "Some checks did not pass.");
      if (data.verdict.solution_unlocked && this.revealSolution(data.verdict.solution)) {
        spoken += " The solution is now shown below.";
      }
    }
    this.say(spoken, true);
    this.setRunning(false);
  };

  Lab.prototype.showVerdict = function (verdict) {
    var box = this.verdict;
    var passed = !!verdict.passed;
    box.textContent = "";
    box.className = "lab-verdict " + (passed ? "lab-verdict-pass" : "lab-verdict-fail");
    var heading = el("h4", "lab-verdict-title");
    var headMark = el("span", "lab-mark", passed ? "\u2713" : "\u2717");
    headMark.setAttribute("aria-hidden", "true");
    heading.appendChild(headMark);
    heading.appendChild(document.createTextNode(passed ? "Passed" : "Not passed yet"));
    box.appendChild(heading);
    if (verdict.summary) { box.appendChild(el("p", "lab-verdict-summary", String(verdict.summary))); }

    var checks = Array.isArray(verdict.checks) ? verdict.checks : [];
    if (checks.length) {
      var list = el("ul", "lab-checks");
      checks.forEach(function (check) {
        var ok = !!(check && check.passed);
        var item = el("li", ok ? "lab-check lab-check-pass" : "lab-check lab-check-fail");
        var mark = el("span", "lab-mark", ok ? "\u2713" : "\u2717");
        mark.setAttribute("aria-hidden", "true");
        item.appendChild(mark);
        item.appendChild(el("span", "visually-hidden", ok ? "Passed: " : "Failed: "));
        item.appendChild(el("span", "lab-check-name", String((check && check.name) || "")));
        if (check && check.detail) { item.appendChild(el("span", "lab-check-detail", String(check.detail))); }
        list.appendChild(item);
      });
      box.appendChild(list);
    }

    var mistake = verdict.mistake;
    if (mistake && typeof mistake === "object") {
      var part = el("div", "lab-mistake");
      var titleId = this.id + "-mistake";
      var title = el("p", "lab-mistake-title", String(mistake.title || ""));
      title.id = titleId;
      part.appendChild(title);
      if (mistake.text) { part.appendChild(el("p", "lab-mistake-text", String(mistake.text))); }
      var href = mistake.href ? safeHref(mistake.href) : null;
      if (href) {
        var link = el("a", "lab-mistake-link", "Read the section");
        link.href = href;
        link.setAttribute("aria-describedby", titleId);
        var p = el("p");
        p.appendChild(link);
        part.appendChild(p);
      }
      box.appendChild(part);
    }
    box.hidden = false;
  };

  Lab.prototype.revealSolution = function (text) {
    var solution = this.root.querySelector("[data-lab-solution]");
    if (!solution || !solution.hidden) { return false; }
    // The page holds no solution before it is earned: the verdict brings it.
    var code = solution.querySelector("code");
    if (code && text && !code.textContent) { code.textContent = String(text); }
    solution.hidden = false;
    return true;
  };

  // Server-rendered hints: each press shows the next one and moves the focus to it.
  Lab.prototype.setupHints = function () {
    var list = this.root.querySelector("ol[data-lab-hints]");
    var button = this.root.querySelector("button[data-lab-hint]");
    if (!list || !button) { return; }
    function hidden() { return list.querySelectorAll("li[hidden]"); }
    function label() {
      var left = hidden().length;
      button.hidden = left === 0;
      return left;
    }
    if (!label()) { return; }
    button.type = "button";
    button.addEventListener("click", function () {
      var next = hidden()[0];
      if (!next) { return; }
      next.hidden = false;
      next.setAttribute("tabindex", "-1");
      var left = label();
      if (left) { button.textContent = "Show another hint (" + left + " left)"; }
      next.focus();
    });
  };

  Lab.prototype.destroy = function () {
    this.flushDraft();
    this.closeStream();
    this.editor.destroy();
  };

  var labs = [];

  function enhance(scope) {
    if (!scope || !scope.querySelectorAll) { return; }
    var found = Array.prototype.slice.call(scope.querySelectorAll("[data-lab]"));
    if (scope.matches && scope.matches("[data-lab]")) { found.unshift(scope); }
    found.forEach(function (root) {
      if (root.labReady) { return; }
      root.labReady = true;
      root.lab = new Lab(root);
      labs.push(root.lab);
    });
  }

  function ready() { enhance(document); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
  document.addEventListener("htmx:load", function (event) {
    enhance(event.detail && event.detail.elt);
  });
  // A lab that htmx swaps out closes its stream and sends its pending draft.
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var root = event.target;
    if (root && root.lab) {
      root.lab.destroy();
      labs = labs.filter(function (lab) { return lab !== root.lab; });
      root.lab = null;
      root.labReady = false;
    }
  });
  window.addEventListener("pagehide", function () {
    labs.forEach(function (lab) { lab.flushDraft(); });
  });
})();
