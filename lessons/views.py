"""Course pages: thin views over the loader, the search index and learner progress."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from learnsite import pagecache
from learnsite.content import embeds
from learnsite.http import HtmxHttpRequest, safe_next
from lessons import selectors
from lessons.loader import get_course
from lessons.search import MAX_QUERY_LENGTH, QueryTooLong, get_index
from progress import selectors as progress_selectors
from progress import services as progress_services

BODY_SLOT = "lesson-body-slot-9d2f41c3"
END_SLOT = "lesson-end-slot-9d2f41c3"


@require_GET
async def home(request: HttpRequest) -> HttpResponse:
    """A reader without a session gets the kept page on the event loop (no I/O: no
    learner, no progress); everyone else is served in a thread."""
    if not settings.CONTENT_AUTO_RELOAD and pagecache.reads_as_nobody(request):
        return _home(request)
    return await sync_to_async(_home)(request)


def _home(request: HttpRequest) -> HttpResponse:
    course = get_course()

    def context() -> dict[str, object]:
        return {
            "overview": selectors.course_overview(request=request, course=course),
            "content_errors": selectors.visible_content_errors(course),
        }

    if pagecache.reads_as_nobody(request):
        # No learner: the same page for every such reader, per content version.
        return pagecache.page_for_nobody(
            request,
            ("lessons:home", course.version, settings.DEBUG),
            lambda extra: render_to_string("lessons/home.html", context() | extra, request),
        )
    if _layout_is_shared(request):
        # A learner without an account: the page is a function of their progress, so it
        # is rendered once per progress state (read, scores, due reviews) and kept.
        page = context()
        overview = page["overview"]
        assert isinstance(overview, selectors.CourseOverview)
        return pagecache.page_for_nobody(
            request,
            ("lessons:home", course.version, settings.DEBUG, selectors.overview_state(overview)),
            lambda extra: render_to_string("lessons/home.html", page | extra, request),
        )
    return render(request, "lessons/home.html", context())


@require_GET
async def lesson_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A reader without a session is served on the event loop when nothing on the page
    reads Redis or the database for them (a kept layout, kept pieces, their own strings
    put in: no I/O); everyone else in a thread, as a sync view would be."""
    if _served_on_the_loop(request, slug):
        return _lesson_detail(request, slug)
    return await sync_to_async(_lesson_detail)(request, slug)


def _served_on_the_loop(request: HttpRequest, slug: str) -> bool:
    if settings.CONTENT_AUTO_RELOAD or request.GET or not pagecache.reads_as_nobody(request):
        return False  # development re-reads files; a session is read from the database
    lesson = get_course().by_slug(slug)
    return lesson is not None and not any(
        embed is not None and embed.blocks
        for embed in (*(embeds.get(ref.name) for ref in lesson.embeds), *embeds.lesson_end())
    )


def _lesson_detail(request: HttpRequest, slug: str) -> HttpResponse:
    course = get_course()
    lesson = course.by_slug(slug)
    if lesson is None:
        return render(
            request,
            "lessons/not_found.html",
            {
                "slug": slug[:100],
                "suggestions": selectors.slug_suggestions(course=course, slug=slug),
                "lessons": course.lessons,
            },
            status=404,
        )
    previous, following = course.neighbours(lesson)
    page: dict[str, object] = {
        "lesson": lesson,
        "position": course.lessons.index(lesson) + 1,
        "total": len(course.lessons),
        "lessons": course.lessons,
        "previous": previous,
        "next": following,
        "content_errors": selectors.visible_content_errors(course),
    }
    body = selectors.lesson_body(lesson=lesson, request=request)
    end = selectors.lesson_end(lesson=lesson, request=request)
    is_read = progress_selectors.lesson_is_read(request=request, lesson_slug=lesson.slug)
    if _layout_is_shared(request):
        # The page around the reader's own pieces (the embeds that depend on the reader, the
        # practice set) is the same for every reader without an account who has or has not
        # read the lesson: kept once, the pieces put in per request.
        key = ("lessons:detail", lesson.slug, lesson.html, course.version, settings.DEBUG, is_read)
        return pagecache.page_for_nobody(
            request,
            key,
            lambda extra: render_to_string(
                "lessons/lesson.html",
                page
                | {"body": BODY_SLOT, "lesson_end": END_SLOT if end else "", "is_read": is_read}
                | extra,
                request,
            ),
            slots={BODY_SLOT: body, END_SLOT: end},
        )
    return render(
        request, "lessons/lesson.html", page | {"body": body, "lesson_end": end, "is_read": is_read}
    )


def _layout_is_shared(request: HttpRequest) -> bool:
    """Whether the lesson page's layout is the same for this reader as for others: no query
    string (the practice set's forms come back to the address), no account (the header
    names it) and no messages to show (counted, not read: they stay for the page that
    shows them)."""
    if request.GET:
        return False
    if pagecache.reads_as_nobody(request):
        return True
    return not request.user.is_authenticated and len(messages.get_messages(request)) == 0


@require_POST
def lesson_read(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The learner reached the end of a lesson: they said so, or the page saw it."""
    lesson = get_course().by_slug(slug)
    if lesson is None:
        raise Http404("No such lesson.")
    learner = progress_services.learner_for_request(request=request)
    progress_services.lesson_read_mark(learner=learner, lesson_slug=lesson.slug)
    if request.htmx:
        return render(request, "lessons/_read_mark.html", {"lesson": lesson, "is_read": True})
    return redirect(safe_next(request, lesson.url))


@require_GET
def search(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    context: dict[str, object] = {
        "search_query": query[:MAX_QUERY_LENGTH],
        "results": None,
        "live": bool(request.htmx),  # the results alone, their count told to screen readers
    }
    if not query.strip():
        template = "lessons/_search_results.html" if request.htmx else "lessons/search.html"
        return render(request, template, context)
    # As the learner types, htmx asks for the results alone (the form stays as it is).
    template = "lessons/_search_results.html" if request.htmx else "lessons/search.html"
    try:
        context["results"] = get_index(get_course()).search(query)
    except QueryTooLong as exc:
        context["error"] = str(exc)
        return render(request, template, context, status=400)
    return render(request, template, context)
