"""Course pages: thin views over the loader, the search index and the progress API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lessons import selectors
from lessons.loader import get_course
from lessons.search import MAX_QUERY_LENGTH, QueryTooLong, get_index
from quizzes.progress import lesson_mark_read


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    course = get_course()
    return render(
        request,
        "lessons/home.html",
        {
            "overview": selectors.course_overview(request=request, course=course),
            "content_errors": selectors.visible_content_errors(course),
        },
    )


@require_GET
def lesson_detail(request: HttpRequest, slug: str) -> HttpResponse:
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
    lesson_mark_read(request=request, lesson_slug=lesson.slug)
    previous, following = course.neighbours(lesson)
    return render(
        request,
        "lessons/lesson.html",
        {
            "lesson": lesson,
            "body": selectors.lesson_body(lesson=lesson, request=request),
            "position": course.lessons.index(lesson) + 1,
            "total": len(course.lessons),
            "previous": previous,
            "next": following,
            "content_errors": selectors.visible_content_errors(course),
        },
    )


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    context: dict[str, object] = {"search_query": query[:MAX_QUERY_LENGTH], "results": None}
    if not query.strip():
        return render(request, "lessons/search.html", context)
    try:
        context["results"] = get_index(get_course()).search(query)
    except QueryTooLong as exc:
        context["error"] = str(exc)
        return render(request, "lessons/search.html", context, status=400)
    return render(request, "lessons/search.html", context)
