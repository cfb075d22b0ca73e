// Practice quizzes: show answer errors in place and move focus to new feedback.
(function () {
  "use strict";

  // After an answer is swapped in, move keyboard and screen-reader focus to its feedback;
  // after the answer that finishes a round, to the round's summary instead (it comes out of
  // band in the same response, before or after the question, so both orders end there).
  function finishedSummary() {
    return document.querySelector(".quiz-summary[data-finished][data-fresh]");
  }
  document.addEventListener("htmx:load", function (event) {
    var element = event.detail && event.detail.elt;
    if (!element || !element.classList) return;
    if (element.classList.contains("quiz-summary") && element.hasAttribute("data-finished")) {
      element.setAttribute("data-fresh", "");
      element.focus({ preventScroll: false });
      return;
    }
    if (!element.classList.contains("quiz-question")) return;
    var summary = finishedSummary();
    if (summary) {
      summary.focus({ preventScroll: false });
      return;
    }
    var feedback = element.querySelector(".quiz-feedback");
    if (feedback) feedback.focus({ preventScroll: false });
  });
})();
