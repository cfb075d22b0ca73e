// Live match boards: one EventSource per board on /live/<feed>/stream.
// Each plain event's data is the JSON body published on live:<feed>, verbatim.
(function () {
  "use strict";

  const TICKER_MAX = 20;

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

    const source = new EventSource(board.dataset.streamUrl);
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
