"""Quiz pages. Views parse input, call one service or selector, render."""

from __future__ import annotations

import html
from typing import Any

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import strip_tags
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from quizzes import selectors, services
from quizzes.loader import QuizBank, get_bank
from quizzes.pages import question_view, question_views
from quizzes.parsing import PracticeSet
from quizzes.progress import course_progress


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _practice_set(bank: QuizBank, lesson_slug: str) -> PracticeSet:
    practice = bank.practice_set(lesson_slug)
    if practice is None:
        raise Http404("No practice set for this lesson.")
    return practice


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def practice_context(request: HttpRequest, lesson_slug: str) -> dict[str, Any]:
    """The practice set of a lesson with this learner's current attempt (used by the quiz
    page and by the `lesson_quiz` tag at the end of each lesson)."""
    bank = get_bank()
    practice = _practice_set(bank, lesson_slug)
    learner = services.learner_for_request(request=request)
    attempt = services.attempt_current(
        learner=learner, lesson_slug=lesson_slug, total=len(practice.questions)
    )
    answers = selectors.attempt_answers(attempt=attempt)
    return {
        "practice": practice,
        "attempt": attempt,
        "questions": question_views(
            bank=bank, questions=list(practice.questions), attempt=attempt, answers=answers
        ),
        "answered": len(answers),
        "history": selectors.attempts_finished(learner=learner, lesson_slug=lesson_slug),
        "return_to": request.get_full_path(),
    }


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Every practice set, in course order, with this learner's latest score."""
    from lessons.loader import get_course

    bank = get_bank()
    lessons = {lesson.slug: lesson for lesson in get_course().lessons}
    slugs = [slug for slug in bank.sets if slug in lessons]
    progress = course_progress(request=request, lesson_slugs=slugs)
    rows = [
        {"lesson": lessons[slug], "set": bank.sets[slug], "progress": progress[slug]}
        for slug in slugs
    ]
    return render(request, "quizzes/index.html", {"rows": rows})


@require_GET
def quiz_page(request: HttpRequest, lesson_slug: str) -> HttpResponse:
    context = practice_context(request, lesson_slug)
    from lessons.loader import get_course

    lesson = get_course().by_slug(lesson_slug)
    return render(request, "quizzes/quiz_page.html", context | {"lesson": lesson})


@require_POST
def try_again(request: HttpRequest, lesson_slug: str) -> HttpResponse:
    practice = _practice_set(get_bank(), lesson_slug)
    learner = services.learner_for_request(request=request)
    services.attempt_start(learner=learner, lesson_slug=lesson_slug, total=len(practice.questions))
    default = reverse("quizzes:quiz", args=[lesson_slug])
    return redirect(_safe_next(request, default).split("#")[0] + "#practice-heading")


@require_POST
def answer(request: HtmxHttpRequest) -> HttpResponse:
    bank = get_bank()
    learner = services.learner_for_request(request=request)
    data = request.POST
    try:
        outcome = services.answer_record(
            learner=learner,
            bank=bank,
            attempt_id=data.get("attempt", "").strip(),
            question_id=data.get("question", "").strip(),
            question_hash=data.get("version", "").strip(),
            option_id=data.get("option", "").strip(),
        )
    except services.AnswerRejected as rejected:
        template = "quizzes/_answer_error.html" if request.htmx else "quizzes/answer_error.html"
        back = _safe_next(request, reverse("lessons:home")).split("#")[0]
        context = {"message": rejected.message, "back": back}
        return render(request, template, context, status=rejected.status)
    question = bank.question(outcome.answer.question_id)
    assert question is not None  # answer_record checked it
    attempt = outcome.attempt
    if not request.htmx:
        if attempt.kind == attempt.Kind.REVIEW:
            default = reverse("quizzes:review")
        else:
            default = reverse("quizzes:quiz", args=[attempt.lesson_slug])
        return redirect(_safe_next(request, default).split("#")[0] + f"#q-{question.id}")
    number = data.get("number", "")
    view = question_view(
        bank=bank,
        question=question,
        attempt=attempt,
        number=int(number) if number.isascii() and number.isdigit() and len(number) < 4 else 0,
        answer=outcome.answer,
        already_recorded=outcome.already_recorded,
    )
    return render(
        request,
        "quizzes/_question.html",
        {
            "q": view,
            "return_to": _safe_next(request, ""),
            "oob_score": attempt.kind == attempt.Kind.PRACTICE,
        },
    )


@require_GET
def review(request: HttpRequest) -> HttpResponse:
    bank = get_bank()
    learner = selectors.learner_find(request=request)
    context: dict[str, Any] = {"questions": [], "mistakes": [], "round": None}
    if learner is not None:
        state = selectors.review_state(learner=learner, bank=bank)
        round_ = services.review_round_current(learner=learner, total=len(state.question_ids))
        answers = selectors.attempt_answers(attempt=round_)
        ids = set(state.question_ids) | set(answers)
        questions = [q for q in bank.questions.values() if q.id in ids]
        context = {
            "round": round_,
            "questions": question_views(
                bank=bank, questions=questions, attempt=round_, answers=answers
            ),
            "waiting": len([q for q in questions if q.id not in answers]),
            "mistakes": [(bank.mistakes[m], n) for m, n in state.mistakes],
            "return_to": reverse("quizzes:review"),
        }
    return render(request, "quizzes/review.html", context)


@require_POST
def review_again(request: HttpRequest) -> HttpResponse:
    learner = services.learner_for_request(request=request)
    state = selectors.review_state(learner=learner, bank=get_bank())
    services.review_round_start(learner=learner, total=len(state.question_ids))
    return redirect("quizzes:review")


@require_GET
def progress_json(request: HttpRequest) -> JsonResponse:
    learner = selectors.learner_find(request=request)
    response = JsonResponse(
        selectors.progress_export(learner=learner), json_dumps_params={"indent": 2}
    )
    response["Content-Disposition"] = 'attachment; filename="my-progress.json"'
    return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("lessons:home")
    form: UserCreationForm[User] = UserCreationForm(
        request.POST if request.method == "POST" else None
    )
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Logging in fires user_logged_in, which merges this visitor's progress.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(_safe_next(request, reverse("lessons:home")))
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "registration/signup.html",
        {"form": form, "next": request.GET.get("next", "")},
        status=status,
    )


@require_GET
def insights(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={reverse('quizzes:insights')}")
    if not request.user.is_staff:
        raise PermissionDenied("Insights are for staff.")
    bank = get_bank()
    lesson = request.GET.get("lesson", "") or None
    if lesson is not None and bank.practice_set(lesson) is None:
        return render(
            request,
            "quizzes/answer_error.html",
            {
                "title": "No such lesson",
                "back": reverse("quizzes:insights"),
                "message": f"There is no lesson '{lesson[:100]}'. Pick a lesson from the "
                "list, or all lessons.",
            },
            status=400,
        )
    stats, mistakes = selectors.insights(lesson_slug=lesson)
    sets = [bank.sets[lesson]] if lesson else list(bank.sets.values())
    most = max((n for _, n in mistakes), default=0)
    rows = []
    for practice in sets:
        for question in practice.questions:
            stat = stats.get(question.id)
            picks = stat.picks if stat else {}
            total = sum(picks.values())
            rows.append(
                {
                    "question": question,
                    "stem": html.unescape(strip_tags(question.stem_html)),
                    "stat": stat,
                    "options": [
                        (
                            o,
                            picks.get(o.id, 0),
                            round(100 * picks.get(o.id, 0) / total) if total else 0,
                        )
                        for o in question.options
                    ],
                }
            )
    return render(
        request,
        "quizzes/insights.html",
        {
            "sets": list(bank.sets.values()),
            "lesson": lesson,
            "rows": rows,
            "mistakes": [
                (bank.mistake(m), m, n, round(100 * n / most) if most else 0) for m, n in mistakes
            ],
        },
    )
