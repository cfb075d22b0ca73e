"""What the quiz templates show: questions in the attempt's order, with any feedback, and
the summary at the end of a finished practice round.

Shared by the quiz page, the review page, the retry page, the answer view and the lesson's
practice set, so a question looks the same wherever it appears. Everything here only reads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.urls import reverse

from learnsite.learners import learner_key_peek
from lessons.course import Course, Lesson
from lessons.loader import get_course
from progress.models import Answer, Learner, QuizAttempt
from progress.selectors import learner_find
from quizzes import selectors
from quizzes.loader import QuizBank, get_bank
from quizzes.parsing import Mistake, Option, PracticeSet, Question
from quizzes.shuffle import ShownOption, first_seed, shown_options


@dataclass(frozen=True)
class Feedback:
    correct: bool
    picked: ShownOption
    right: ShownOption
    mistake: Mistake | None
    already_recorded: bool
    outdated: bool  # answered an earlier version of the question

    @property
    def fix_url(self) -> str | None:
        """The lesson section that clears up this pick: the choice's own, else its mistake's."""
        return fix_url(self.picked.option, self.mistake)


def fix_url(option: Option, mistake: Mistake | None) -> str | None:
    return option.fix_url() or (mistake.url if mistake is not None else None)


@dataclass(frozen=True)
class QuestionView:
    number: int
    question: Question
    attempt: QuizAttempt
    options: tuple[ShownOption, ...]
    feedback: Feedback | None

    @property
    def dom_id(self) -> str:
        return f"q-{self.question.id}"


def question_view(
    *,
    bank: QuizBank,
    question: Question,
    attempt: QuizAttempt,
    number: int,
    answer: Answer | None,
    already_recorded: bool = False,
) -> QuestionView:
    options = shown_options(question, attempt.seed)
    feedback = None
    if answer is not None:
        picked = next((s for s in options if s.option.id == answer.option_id), None)
        right = next(s for s in options if s.option.correct)
        if picked is not None:
            feedback = Feedback(
                correct=answer.correct,
                picked=picked,
                right=right,
                mistake=bank.mistake(answer.mistake_id),
                already_recorded=already_recorded,
                outdated=answer.question_hash != question.content_hash,
            )
    return QuestionView(number, question, attempt, options, feedback)


def question_views(
    *, bank: QuizBank, questions: list[Question], attempt: QuizAttempt, answers: dict[str, Answer]
) -> list[QuestionView]:
    return [
        question_view(bank=bank, question=q, attempt=attempt, number=i, answer=answers.get(q.id))
        for i, q in enumerate(questions, start=1)
    ]


@dataclass(frozen=True)
class Missed:
    """One wrong pick of a finished round, for its summary."""

    number: int
    question: Question
    picked_label: str
    mistake: Mistake | None
    fix_url: str | None
    fix_title: str  # the section's heading and its lesson, for the link's text
    retried: Answer | None  # the latest answer of a retry of this question, if any


@dataclass(frozen=True)
class Summary:
    score: int
    total: int
    missed: tuple[Missed, ...]
    next_lesson: Lesson | None  # None after the course's last lesson

    @property
    def full(self) -> bool:
        return self.score == self.total


def _section_title(option: Option, mistake: Mistake | None) -> str:
    """ "<section heading>" in <lesson title>: where the pick's fix link goes."""
    if option.fix_lesson is not None:
        slug, anchor = option.fix_lesson, option.fix_anchor
    elif mistake is not None:
        slug, anchor = mistake.lesson_slug, mistake.anchor
    else:
        return ""
    lesson = get_course().by_slug(slug)
    if lesson is None:
        return ""
    heading = next((h.text for h in lesson.headings if h.id == anchor), "")
    return f"“{heading}” in {lesson.title}" if heading else lesson.title


def practice_summary(
    *, bank: QuizBank, practice: PracticeSet, attempt: QuizAttempt, answers: dict[str, Answer]
) -> Summary | None:
    """What a finished round shows at its end; None while it is unfinished. The score is the
    round's own: a retry of one question is recorded as a round of its own (kind ``retry``)
    and shown next to the question it retried, never added to this score."""
    if attempt.pk is None or attempt.finished_at is None:
        return None
    retried = selectors.retry_answers(attempt=attempt)
    missed = []
    for number, question in enumerate(practice.questions, start=1):
        answer = answers.get(question.id)
        if answer is None or answer.correct:
            continue
        option = question.option(answer.option_id)
        mistake = bank.mistake(answer.mistake_id)
        missed.append(
            Missed(
                number=number,
                question=question,
                picked_label=answer.shown_label,
                mistake=mistake,
                fix_url=fix_url(option, mistake) if option is not None else None,
                fix_title=_section_title(option, mistake) if option is not None else "",
                retried=retried.get(question.id),
            )
        )
    course = get_course()
    lesson = course.by_slug(practice.lesson_slug)
    next_lesson = course.neighbours(lesson)[1] if lesson is not None else None
    return Summary(attempt.score, attempt.total, tuple(missed), next_lesson)


def _learner_key(request: HttpRequest, learner: Learner | None) -> str:
    return learner.key if learner is not None else learner_key_peek(request)


_LATEST = "_quizzes_latest_attempts"
_NEW_ROUND = "_quizzes_new_rounds"


def _latest(request: HttpRequest, learner: Learner | None, lesson_slug: str) -> QuizAttempt | None:
    """The learner's latest round of the set, asked once per request (a lesson page asks
    for the key of its kept practice set, its context and its questions)."""
    if learner is None:
        return None
    kept: dict[tuple[int, str], QuizAttempt | None] = request.__dict__.setdefault(_LATEST, {})
    asked = (learner.pk, lesson_slug)
    if asked not in kept:
        kept[asked] = selectors.attempt_latest(learner=learner, lesson_slug=lesson_slug)
    return kept[asked]


def _unsaved(request: HttpRequest, learner: Learner | None, practice: PracticeSet) -> QuizAttempt:
    """The round shown before the first answer creates it: its order from the first seed."""
    return QuizAttempt(
        kind=QuizAttempt.Kind.PRACTICE,
        lesson_slug=practice.lesson_slug,
        seed=first_seed(
            learner_key=_learner_key(request, learner), scope=f"practice:{practice.lesson_slug}"
        ),
        total=len(practice.questions),
    )


def new_round(*, request: HttpRequest, lesson_slug: str) -> tuple[PracticeSet, QuizAttempt] | None:
    """The lesson's practice set and the unsaved round this reader is shown, when they have
    no round of it yet (every reader without a learner): everything of the set but its
    questions' order is then the same for all of them. None when they have a round, or
    the lesson has no set."""
    kept: dict[str, tuple[PracticeSet, QuizAttempt] | None]
    kept = request.__dict__.setdefault(_NEW_ROUND, {})
    if lesson_slug in kept:
        return kept[lesson_slug]
    practice = get_bank().practice_set(lesson_slug)
    learner = learner_find(request=request)
    if practice is None or _latest(request, learner, lesson_slug) is not None:
        found = None
    else:
        found = practice, _unsaved(request, learner, practice)
    kept[lesson_slug] = found
    return found


def practice_page(*, request: HttpRequest, lesson_slug: str) -> dict[str, Any]:
    """The practice set of a lesson with this learner's current attempt, for the quiz page
    and the end of the lesson. Only reads: before the first answer, the round shown is an
    unsaved attempt whose order comes from the learner's first seed."""
    bank = get_bank()
    practice = bank.practice_set(lesson_slug)
    if practice is None:
        raise Http404("No practice set for this lesson.")
    learner = learner_find(request=request)
    attempt = _latest(request, learner, lesson_slug) or _unsaved(request, learner, practice)
    answers = selectors.attempt_answers(attempt=attempt) if attempt.pk is not None else {}
    return {
        "practice": practice,
        "attempt": attempt,
        "summary": practice_summary(bank=bank, practice=practice, attempt=attempt, answers=answers),
        "questions": question_views(
            bank=bank, questions=list(practice.questions), attempt=attempt, answers=answers
        ),
        "answered": len(answers),
        "history": (
            selectors.attempts_finished(learner=learner, lesson_slug=lesson_slug)
            if learner is not None
            else []
        ),
        "return_to": request.get_full_path(),
    }


@dataclass(frozen=True)
class ReviewGroup:
    """The review's questions of one lesson, under that lesson's label."""

    slug: str
    title: str
    position: int | None  # the lesson's number in the course (None: not in the course)
    url: str | None  # the lesson's page
    questions: tuple[QuestionView, ...] = ()
    count: int = 0  # for what comes back later: how many questions
    next_due: datetime | None = None  # ... and when the first of them does

    @property
    def heading_id(self) -> str:
        return f"review-{self.slug}"


def _lesson_labels(course: Course, bank: QuizBank) -> list[tuple[str, str, int | None, str | None]]:
    """(slug, title, number, url) of every lesson with a practice set, in course order; a set
    whose lesson is not in the course comes last, under its own title."""
    labels: list[tuple[str, str, int | None, str | None]] = [
        (lesson.slug, lesson.title, position, lesson.url)
        for position, lesson in enumerate(course.lessons, start=1)
        if bank.practice_set(lesson.slug) is not None
    ]
    known = {label[0] for label in labels}
    labels += [(slug, p.title, None, None) for slug, p in bank.sets.items() if slug not in known]
    return labels


def review_page(*, request: HttpRequest) -> dict[str, Any]:
    """The review: the questions due now on the spaced schedule (``quizzes/schedule.py``),
    grouped by lesson, and what comes back later. The round shown is the latest review round
    while it is open (``selectors.review_round_open``); after it, an unsaved new one (its
    first answer creates it), so a question due again is asked again rather than shown with
    its earlier answer."""
    bank = get_bank()
    learner = learner_find(request=request)
    if learner is None:
        return {"groups": [], "upcoming": [], "mistakes": [], "round": None, "due": 0}
    state = selectors.review_state(learner=learner, bank=bank)
    latest = selectors.review_round_latest(learner=learner)
    answers = selectors.attempt_answers(attempt=latest) if latest is not None else {}
    round_ = latest
    if round_ is None or not selectors.review_round_open(
        latest, due=state.question_ids, answered=answers
    ):
        answers = {}
        round_ = QuizAttempt(
            kind=QuizAttempt.Kind.REVIEW,
            seed=first_seed(learner_key=learner.key, scope=selectors.review_scope(latest)),
            total=len(state.question_ids),
        )
    wanted = set(state.question_ids) | set(answers)
    later: dict[str, list[datetime]] = {}
    for card in state.upcoming:
        question = bank.question(card.question_id)
        if question is not None and card.due_at is not None:
            later.setdefault(question.lesson_slug, []).append(card.due_at)
    groups, upcoming = [], []
    number = 0
    for slug, title, position, url in _lesson_labels(get_course(), bank):
        views = []
        for question in bank.sets[slug].questions:
            if question.id in wanted:
                number += 1
                views.append(
                    question_view(
                        bank=bank,
                        question=question,
                        attempt=round_,
                        number=number,
                        answer=answers.get(question.id),
                    )
                )
        if views:
            groups.append(ReviewGroup(slug, title, position, url, tuple(views)))
        if slug in later:
            dues = later[slug]
            upcoming.append(ReviewGroup(slug, title, position, url, (), len(dues), min(dues)))
    waiting = sum(1 for group in groups for q in group.questions if q.feedback is None)
    return {
        "round": round_,
        "groups": groups,
        "due": len(state.question_ids),
        "waiting": waiting,
        "upcoming": upcoming,
        "next_due": state.next_due,
        # A mistake made once is in the feedback already; "most" needs a count above one.
        "mistakes": [(bank.mistakes[m], n) for m, n in state.mistakes if n > 1],
        "return_to": reverse("quizzes:review"),
    }


def review_due_count(request: HttpRequest, learner: object) -> int:
    """How many questions are due for review for ``learner``, the learner of ``request`` (for
    the course home, through ``learnsite.content.practice``); 0 for a visitor."""
    if not isinstance(learner, Learner):
        return 0
    return len(selectors.review_state(learner=learner, bank=get_bank()).question_ids)


@dataclass(frozen=True)
class QuestionLink:
    question: Question
    label: str  # "Question 2 of “Publish and subscribe”"
    url: str


@dataclass(frozen=True)
class ConceptRow:
    concept: selectors.ConceptMastery
    section_title: str  # the heading of the section that clears the mistake up
    questions: tuple[QuestionLink, ...]

    @property
    def state_label(self) -> str:
        return {
            "not-met": "Not met",
            "made": "Made, not yet cleared",
            "cleared": "Cleared",
        }[self.concept.state]


@dataclass(frozen=True)
class MasteryGroup:
    lesson: Lesson | None  # None for mistakes whose lesson is gone
    rows: tuple[ConceptRow, ...]

    @property
    def heading_id(self) -> str:
        return f"mastery-{self.lesson.slug if self.lesson else 'other'}"


def mastery_page(*, request: HttpRequest) -> dict[str, Any]:
    """Each mistake of the catalog with this learner's state, grouped by the lesson that
    clears it up. Only reads: two queries for the learner's rows, after finding them."""
    bank = get_bank()
    course = get_course()
    learner = learner_find(request=request)
    events = selectors.mastery_events(learner=learner) if learner is not None else []
    concepts = selectors.mastery(events=events, bank=bank)
    numbers = {
        q.id: (slug, i) for slug, s in bank.sets.items() for i, q in enumerate(s.questions, 1)
    }
    by_lesson: dict[str, list[ConceptRow]] = {}
    for concept in concepts:
        links = []
        for question in concept.questions:
            slug, number = numbers[question.id]
            owner = course.by_slug(slug)
            title = owner.title if owner is not None else slug
            links.append(
                QuestionLink(
                    question,
                    f"Question {number} of “{title}”",
                    reverse("quizzes:quiz", args=[slug]) + f"#q-{question.id}",
                )
            )
        lesson = course.by_slug(concept.mistake.lesson_slug)
        heading = (
            next((h.text for h in lesson.headings if h.id == concept.mistake.anchor), "")
            if lesson is not None
            else ""
        )
        by_lesson.setdefault(concept.mistake.lesson_slug, []).append(
            ConceptRow(concept, heading, tuple(links))
        )
    order = {lesson.slug: i for i, lesson in enumerate(course.lessons)}
    groups = [
        MasteryGroup(course.by_slug(slug), tuple(rows))
        for slug, rows in sorted(by_lesson.items(), key=lambda kv: order.get(kv[0], len(order)))
    ]
    counts = Counter(c.state for c in concepts)
    return {
        "groups": groups,
        "made": counts["made"],
        "cleared": counts["cleared"],
        "not_met": counts["not-met"],
        "total": len(concepts),
    }
