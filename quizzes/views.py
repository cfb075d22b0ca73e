"""Quiz pages. Views parse input, call one service or selector, render."""

from __future__ import annotations

import html

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import strip_tags
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from learnsite.http import HtmxHttpRequest, safe_next
from lessons.loader import get_course
from progress import imports as progress_imports
from progress import selectors as progress_selectors
from progress import services as progress_services
from progress.forms import ProgressImportForm
from quizzes import selectors, services
from quizzes.loader import get_bank
from quizzes.pages import (
    mastery_page,
    practice_page,
    practice_summary,
    question_view,
    review_page,
)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Every practice set, in course order, with this learner's latest score and whether
    they read the lesson (the same selector as the course home and the export)."""
    bank = get_bank()
    lessons = {lesson.slug: lesson for lesson in get_course().lessons}
    course = progress_selectors.course_progress(
        learner=progress_selectors.learner_find(request=request),
        lesson_slugs=list(lessons),
        practice_sets=frozenset(bank.sets),
    )
    rows = [
        {"lesson": lessons[slug], "set": bank.sets[slug], "progress": course[slug]}
        for slug in bank.sets
        if slug in lessons
    ]
    return render(request, "quizzes/index.html", {"rows": rows, "course": course})


@require_GET
def export(request: HttpRequest) -> JsonResponse:
    """Everything kept about this learner as JSON: the rows, the course's progress (as the
    course home and the quizzes index show it) and mastery per mistake."""
    bank = get_bank()
    learner = progress_selectors.learner_find(request=request)
    data = progress_selectors.progress_export(
        learner=learner,
        lesson_slugs=[lesson.slug for lesson in get_course().lessons],
        practice_sets=frozenset(bank.sets),
    )
    events = selectors.mastery_events(learner=learner) if learner is not None else []
    data["mastery"] = [
        {"mistake": c.mistake.id, "state": c.state, "made": c.made}
        for c in selectors.mastery(events=events, bank=bank)
    ]
    response = JsonResponse(data, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = 'attachment; filename="my-progress.json"'
    return response


def _import_refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "quizzes/import_error.html",
        {"message": message, "import_form": ProgressImportForm()},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def progress_import(request: HttpRequest) -> HttpResponse:
    """Add an exported progress file to this visitor's progress (anonymous or logged in).
    A GET shows the form only."""
    if request.method == "GET":
        return render(request, "quizzes/import_page.html", {"import_form": ProgressImportForm()})
    form = ProgressImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _import_refused(request, "Choose your progress file, then press Import.", 400)
    upload = form.cleaned_data["file"]
    if upload.size > progress_imports.MAX_IMPORT_BYTES:
        message = (
            f"The file is {upload.size // 1024} KB; at most "
            f"{progress_imports.MAX_IMPORT_BYTES // 1024} KB can be imported."
        )
        return _import_refused(request, message, 413)
    try:
        data = progress_imports.progress_file_parse(upload.read())
        known = selectors.import_known(bank=get_bank(), course=get_course())
        learner = progress_services.learner_for_request(request=request)
        imported = progress_imports.progress_import(learner=learner, data=data, known=known)
    except progress_imports.ImportRejected as exc:
        return _import_refused(request, str(exc), 400)
    moved = progress_selectors.Moved(imported.reads, imported.answers, imported.predictions)
    summary = progress_selectors.moved_summary(moved, into="into your progress")
    notes = [summary or "Nothing new was added: your progress already had all of it."]
    if imported.skipped:
        left_out = "1 entry was" if imported.skipped == 1 else f"{imported.skipped} entries were"
        notes.append(
            f"{left_out} left out: questions, lessons or predictions this course does not "
            "have (or no longer has in that form)."
        )
    messages.success(request, " ".join(notes))
    return redirect("quizzes:index")


@require_GET
def mastery(request: HttpRequest) -> HttpResponse:
    """Each mistake of the catalog: not met, made and not yet cleared, or cleared."""
    return render(request, "quizzes/mastery.html", mastery_page(request=request))


@require_GET
def quiz_page(request: HttpRequest, lesson_slug: str) -> HttpResponse:
    context = practice_page(request=request, lesson_slug=lesson_slug)
    lesson = get_course().by_slug(lesson_slug)
    return render(
        request, "quizzes/quiz_page.html", context | {"lesson": lesson, "standalone": True}
    )


def _refused(request: HttpRequest, rejected: services.AnswerRejected, back: str) -> HttpResponse:
    return render(
        request,
        "quizzes/answer_error.html",
        {"title": "Nothing was started", "message": rejected.message, "back": back},
        status=rejected.status,
    )


@require_POST
def try_again(request: HttpRequest, lesson_slug: str) -> HttpResponse:
    practice = get_bank().practice_set(lesson_slug)
    if practice is None:
        raise Http404("No practice set for this lesson.")
    default = reverse("quizzes:quiz", args=[lesson_slug])
    back = safe_next(request, default).split("#")[0]
    learner = progress_services.learner_for_request(request=request)
    try:
        services.attempt_start(
            learner=learner, lesson_slug=lesson_slug, total=len(practice.questions)
        )
    except services.AnswerRejected as rejected:
        return _refused(request, rejected, back)
    return redirect(back + "#practice-heading")


@require_POST
def retry(request: HttpRequest, lesson_slug: str) -> HttpResponse:
    """ "Retry this question" from a finished round's summary: a retry round of its own."""
    bank = get_bank()
    if bank.practice_set(lesson_slug) is None:
        raise Http404("No practice set for this lesson.")
    learner = progress_services.learner_for_request(request=request)
    try:
        retry_round = services.retry_start(
            learner=learner,
            bank=bank,
            attempt_id=request.POST.get("attempt", "").strip(),
            question_id=request.POST.get("question", "").strip(),
        )
    except services.AnswerRejected as rejected:
        return _refused(request, rejected, reverse("quizzes:quiz", args=[lesson_slug]))
    return redirect("quizzes:retry_page", lesson_slug=lesson_slug, retry_id=retry_round.pk)


@require_GET
def retry_page(request: HttpRequest, lesson_slug: str, retry_id: int) -> HttpResponse:
    bank = get_bank()
    practice = bank.practice_set(lesson_slug)
    learner = progress_selectors.learner_find(request=request)
    retry_round = (
        selectors.retry_find(learner=learner, lesson_slug=lesson_slug, retry_id=retry_id)
        if learner is not None and practice is not None and retry_id < 2**63
        else None
    )
    question = bank.question(retry_round.question_id) if retry_round is not None else None
    if practice is None or retry_round is None or question is None:
        raise Http404("No such retry.")
    answers = selectors.attempt_answers(attempt=retry_round)
    number = next(i for i, q in enumerate(practice.questions, start=1) if q.id == question.id)
    view = question_view(
        bank=bank,
        question=question,
        attempt=retry_round,
        number=number,
        answer=answers.get(question.id),
    )
    return render(
        request,
        "quizzes/retry_page.html",
        {
            "practice": practice,
            "lesson": get_course().by_slug(lesson_slug),
            "q": view,
            "round": retry_round.retry_of,
            "return_to": request.get_full_path(),
        },
    )


@require_POST
def answer(request: HtmxHttpRequest) -> HttpResponse:
    bank = get_bank()
    learner = progress_services.learner_for_request(request=request)
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
        back = safe_next(request, reverse("lessons:home")).split("#")[0]
        context = {"message": rejected.message, "back": back}
        response = render(request, template, context, status=rejected.status)
        question_id = data.get("question", "").strip()
        if request.htmx and bank.question(question_id) is not None:
            # The message goes next to the form; the question itself stays as it was.
            reswap(retarget(response, f"#q-{question_id}-error"), "innerHTML")
        return response
    question = bank.question(outcome.answer.question_id)
    assert question is not None  # answer_record checked it
    attempt = outcome.attempt
    if not request.htmx:
        if attempt.kind == attempt.Kind.REVIEW:
            default = reverse("quizzes:review")
        elif attempt.kind == attempt.Kind.RETRY:
            default = reverse("quizzes:retry_page", args=[attempt.lesson_slug, attempt.pk])
        else:
            default = reverse("quizzes:quiz", args=[attempt.lesson_slug])
        return redirect(safe_next(request, default).split("#")[0] + f"#q-{question.id}")
    number = data.get("number", "")
    view = question_view(
        bank=bank,
        question=question,
        attempt=attempt,
        number=int(number) if number.isascii() and number.isdigit() and len(number) < 4 else 0,
        answer=outcome.answer,
        already_recorded=outcome.already_recorded,
    )
    practice = bank.practice_set(attempt.lesson_slug)
    summary = None
    if attempt.kind == attempt.Kind.PRACTICE and practice is not None:
        # The answer that finishes a round brings the round's summary along (out of band).
        summary = practice_summary(
            bank=bank,
            practice=practice,
            attempt=attempt,
            answers=selectors.attempt_answers(attempt=attempt) if attempt.finished_at else {},
        )
    return render(
        request,
        "quizzes/_question.html",
        {
            "q": view,
            "return_to": safe_next(request, ""),
            "oob_score": attempt.kind == attempt.Kind.PRACTICE,
            "oob_summary": summary is not None,
            "summary": summary,
            "practice": practice,
            "attempt": attempt,
        },
    )


@require_GET
def review(request: HttpRequest) -> HttpResponse:
    return render(request, "quizzes/review.html", review_page(request=request))


@require_POST
def review_again(request: HttpRequest) -> HttpResponse:
    learner = progress_services.learner_for_request(request=request)
    state = selectors.review_state(learner=learner, bank=get_bank())
    services.review_round_start(learner=learner, total=len(state.question_ids))
    return redirect("quizzes:review")


@require_GET
def insights(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not request.user.is_staff:
        return render(request, "quizzes/insights_staff_only.html", status=403)
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
