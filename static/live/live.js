// Live match boards: one stream per board on /live/<feed>/stream, shared (static/js/streams.js).
// Each plain event's data is the JSON body published on live:<feed>, verbatim.
(function () {
  "use strict";

  const TICKER_MAX = 20;
  // Update kinds a played match publishes (live/match.py); "fulltime" ends it.
  const MATCH_KINDS = ["kickoff", "minute", "goal", "card", "halftime"];

  // The kick-off box of a demo feed (live/_kickoff.html) follows the feed's own updates, so
  // every tab moves on together whichever tab, process or console line drove the match.
  function followMatch(board, data) {
    const box = board.querySelector("[data-live-kickoff]"); // looked up each time: htmx swaps it
    if (!box || typeof data.kind !== "string") return;
    const state = data.kind === "fulltime" ? "over" : MATCH_KINDS.includes(data.kind) ? "running" : null;
    if (state === null || box.dataset.state === state) return;
    box.dataset.state = state;
    box.querySelectorAll("[data-kickoff-when]").forEach(function (el) {
      el.hidden = !el.dataset.kickoffWhen.split(" ").includes(state);
    });
    // What the last press was told (started, or refused as busy) is out of date now.
    box.querySelectorAll("[data-kickoff-message]").forEach(function (el) { el.remove(); });
  }

  function text(el, value) {
    if (el) el.textContent = value;
  }

  function start(board) {
    if (board.dataset.liveStarted) return;
    board.dataset.liveStarted = "1";
    const find = (name) => board.querySelector("[data-live-" + name + "]");
    const ticker = find("ticker");
    let lastSeq = null;
    let received = 0;
    let openedAt = 0;
    let firstAfterOpen = false;

    function addTicker(line) {
      const item = document.createElement("li");
      item.textContent = line;
      ticker.prepend(item);
      while (ticker.children.length > TICKER_MAX) ticker.lastElementChild.remove();
    }

    function applyState(data) {
      if (data.teams && typeof data.teams === "object") {
        if (data.teams.home !== undefined) text(find("home"), String(data.teams.home));
        if (data.teams.away !== undefined) text(find("away"), String(data.teams.away));
      }
      if (data.score && typeof data.score === "object") {
        if (data.score.home !== undefined) text(find("home-score"), String(data.score.home));
        if (data.score.away !== undefined) text(find("away-score"), String(data.score.away));
      }
      if (typeof data.minute === "number") text(find("minute"), data.minute + "'");
    }

    function onUpdate(raw, isResync) {
      const fresh = firstAfterOpen;
      firstAfterOpen = false;
      let data;
      try {
        data = JSON.parse(raw);
      } catch (err) {
        addTicker(raw);
        return;
      }
      if (data === null || typeof data !== "object" || Array.isArray(data)) {
        addTicker(String(raw));
        return;
      }
      applyState(data);
      // The stored state sent on connect may be a match whose process died mid-way: the
      // page, rendered from the match's lease, knows better; live updates move the box on.
      if (!(fresh && typeof data.ts === "number" && data.ts < openedAt)) followMatch(board, data);
      const seq = typeof data.seq === "number" ? data.seq : null;
      const repeat = seq !== null && seq === lastSeq;
      if (seq !== null) lastSeq = seq;
      if (!repeat && !isResync) {
        received += 1;
        text(find("count"), String(received));
        addTicker(typeof data.text === "string" ? data.text : raw);
      }
      // The stream's first event is the stored state, published before we connected:
      // its age is not a delivery time, so only live updates are timed.
      if (typeof data.ts === "number" && !isResync && !(fresh && data.ts < openedAt)) {
        const ms = Date.now() - data.ts;
        text(find("latency"), ms + " ms");
      }
    }

    // The page's one shared stream (static/js/streams.js), opened once the board is in view.
    // In edge mode (data-live-edge) nginx + nchan serves the feed's URL itself: the board
    // opens its own EventSource there (HTTP/2 at the edge, so tabs do not run out of
    // connections); the edge sends the published bodies only, no viewer counts.
    const edge = board.dataset.liveEdge;
    const source = window.SiteStreams && !edge
      ? window.SiteStreams.open(board.dataset.streamUrl, { element: board })
      : new EventSource(board.dataset.streamUrl);
    if (edge) text(find("viewers"), "not counted at the edge");
    source.addEventListener("open", function () {
      openedAt = Date.now();
      firstAfterOpen = true;
      text(find("status"), "Live: connected to the feed.");
      board.classList.remove("live-down");
    });
    source.addEventListener("message", function (event) {
      onUpdate(event.data, false);
    });
    source.addEventListener("resync", function (event) {
      onUpdate(event.data, true);
      text(find("status"), "Live: reconnected to Redis; showing the current state.");
    });
    source.addEventListener("viewers", function (event) {
      try {
        text(find("viewers"), String(JSON.parse(event.data).viewers));
      } catch (err) {
        /* ignore a malformed count */
      }
    });
    source.addEventListener("status", function (event) {
      let down = false;
      try {
        down = JSON.parse(event.data).redis === "down";
      } catch (err) {
        down = false;
      }
      board.classList.toggle("live-down", down);
      text(find("status"), down
        ? "Redis is not answering; waiting for it to come back. Updates resume by themselves."
        : "Live: Redis is back.");
    });
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) {
        text(find("status"), "Connection lost; reconnecting\u2026");
      } else {
        text(find("status"), "Disconnected. Reload the page to try again.");
      }
    });
  }

  function scan(root) {
    root.querySelectorAll("[data-live-board]").forEach(start);
  }

  scan(document);
  document.addEventListener("htmx:load", function (event) {
    if (event.target instanceof Element) scan(event.target);
  });
})();
