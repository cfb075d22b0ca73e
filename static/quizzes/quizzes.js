// Practice quizzes: show answer errors in place and move focus to new feedback.
(function () {
  "use strict";

  // htmx does not swap 4xx responses by default. For quiz answers they carry a message
  // for the learner ("pick an option", "reload the page"), so show it next to the form.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    if (status < 400 || (status >= 500 && status !== 503)) return;
    var form = detail.requestConfig && detail.requestConfig.elt;
    if (!form || !form.closest) return;
    var question = form.closest(".quiz-question");
    var box = question && question.querySelector(".quiz-error");
    if (!box) return;
    detail.shouldSwap = true;
    detail.isError = false;
    detail.target = box;
    detail.swapOverride = "innerHTML";
  });

  // After an answer is swapped in, move keyboard and screen-reader focus to its feedback.
  document.addEventListener("htmx:load", function (event) {
    var element = event.detail && event.detail.elt;
    if (!element || !element.classList || !element.classList.contains("quiz-question")) return;
    var feedback = element.querySelector(".quiz-feedback");
    if (feedback) feedback.focus({ preventScroll: false });
  });
})();
