"""The lessons loader: discover ``content/lessons/*.md``, validate, render once, cache.

Public API (other apps call these):
``get_course() -> Course``, ``content_errors() -> list[ContentError]``.

Files are re-read only when their size or mtime changes, and re-rendered only when their
bytes hash differently. With ``settings.CONTENT_AUTO_RELOAD`` (development) every call checks
the files, so an edited lesson shows on the next reload; otherwise the course is built once.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from learnsite.content import files, frontmatter
from learnsite.content.errors import ContentError
from lessons import rendering
from lessons.course import PARTS, Course, Lesson

FRONT_MATTER = frontmatter.FrontMatterSpec(
    kind="a lesson",
    examples={
        "title": "title: Publish and subscribe with redis-py",
        "slug": "slug: publish-and-subscribe",
        "order": "order: 2",
        "summary": "summary: One or two sentences shown on the course home.",
        "part": "part: Pub/sub",
    },
)
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class _Front:
    """A lesson's valid front matter, with the lines duplicates are reported on."""

    title: str
    slug: str
    order: int
    summary: str
    part: str
    slug_line: int
    order_line: int


@dataclass(frozen=True)
class _ParsedFile:
    """One file's result: a lesson (if its front matter is valid) and its own errors."""

    lesson: Lesson | None
    front: _Front | None
    links: tuple[rendering.InternalLink, ...]
    errors: tuple[ContentError, ...]


@dataclass(frozen=True)
class _Cached:
    stamp: tuple[int, int]  # (mtime_ns, size)
    digest: str
    parsed: _ParsedFile


_lock = threading.Lock()
_files: dict[Path, _Cached] = {}
_course: Course | None = None
_course_key: tuple[object, ...] | None = None
_course_dir: Path | None = None


def lessons_dir() -> Path:
    return Path(settings.CONTENT_DIR) / "lessons"


def _slug_suggestion(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "my-lesson"


def _parts_phrase() -> str:
    *first, last = (f'"{name}"' for name in PARTS)
    return f"{', '.join(first)} or {last}" if first else last


def _front(path: Path, front: frontmatter.FrontMatter, errors: list[ContentError]) -> _Front | None:
    """The lesson's own rules for its front-matter values; problems go to ``errors``."""
    found: list[ContentError] = []
    title = frontmatter.text_value(path, front, FRONT_MATTER, "title", found)
    summary = frontmatter.text_value(path, front, FRONT_MATTER, "summary", found)
    part = frontmatter.text_value(path, front, FRONT_MATTER, "part", found)
    if part is not None and part not in PARTS:
        found.append(
            ContentError(
                path,
                front.line("part"),
                f'unknown part "{part}"; write part: followed by one of {_parts_phrase()}',
            )
        )
    slug_field, order_field = front.fields.get("slug"), front.fields.get("order")
    slug = slug_field.value if slug_field is not None else None
    if slug_field is not None and (not isinstance(slug, str) or not SLUG_RE.match(slug)):
        found.append(
            ContentError(
                path,
                slug_field.line,
                f'bad slug "{slug}"; use lowercase letters, digits and hyphens, '
                f'e.g. "{_slug_suggestion(str(slug))}"',
            )
        )
    order = order_field.value if order_field is not None else None
    if order_field is not None and (
        isinstance(order, bool) or not isinstance(order, int) or order < 1
    ):
        found.append(
            ContentError(
                path,
                order_field.line,
                f'"order" must be a whole number from 1 up, e.g. order: 3 (found {order!r})',
            )
        )
    errors.extend(found)
    if errors or title is None or summary is None or part is None:
        return None
    assert isinstance(slug, str) and isinstance(order, int)
    return _Front(title, slug, order, summary, part, front.line("slug"), front.line("order"))


def _parse_file(path: Path, raw: bytes) -> _ParsedFile:
    try:
        text = files.decode(path, raw)
    except ContentError as exc:
        return _ParsedFile(None, None, (), (exc,))
    read, front_errors = frontmatter.read(path, text, FRONT_MATTER)
    if read is None:
        return _ParsedFile(None, None, (), tuple(front_errors))
    front = _front(path, read, front_errors)
    body = rendering.render_body(path, read.body, read.body_first_line)
    errors = (*front_errors, *body.errors)
    if front is None:
        return _ParsedFile(None, None, body.links, errors)
    lesson = Lesson(
        slug=front.slug,
        title=front.title,
        order=front.order,
        summary=front.summary,
        part=front.part,
        path=path,
        html=body.html,
        headings=body.headings,
        reading_minutes=body.reading_minutes,
        runnable_blocks=body.runnable_blocks,
        embeds=body.embeds,
        sections=body.sections,
    )
    return _ParsedFile(lesson, front, body.links, errors)


def _load(path: Path) -> _Cached:
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _files.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        raw = path.read_bytes()
    except OSError as exc:
        error = ContentError(
            path,
            None,
            f"cannot read the file ({exc.strerror or exc}); check it exists and is readable",
        )
        return _Cached((0, 0), f"unreadable:{exc}", _ParsedFile(None, None, (), (error,)))
    digest = hashlib.sha256(raw).hexdigest()
    if cached is not None and cached.digest == digest:
        entry = _Cached(stamp, digest, cached.parsed)
    else:
        entry = _Cached(stamp, digest, _parse_file(path, raw))
    _files[path] = entry
    return entry


def _link_errors(
    path: Path,
    links: tuple[rendering.InternalLink, ...],
    own: Lesson | None,
    headings: dict[str, set[str]],
) -> list[ContentError]:
    errors: list[ContentError] = []
    for link in links:
        slug = link.slug if link.slug is not None else (own.slug if own else None)
        if slug is None:
            continue
        if slug not in headings:
            known = ", ".join(sorted(headings)) or "none yet"
            errors.append(
                ContentError(
                    path, link.line, f'link to a missing lesson "{slug}"; known slugs: {known}'
                )
            )
        elif link.fragment is not None and link.fragment not in headings[slug]:
            errors.append(
                ContentError(
                    path,
                    link.line,
                    f'link to a missing heading "#{link.fragment}" in lesson '
                    f'"{slug}"; its headings are: {", ".join(sorted(headings[slug])) or "none"}',
                )
            )
    return errors


def _build(entries: list[tuple[Path, _Cached]], missing_dir: Path | None) -> Course:
    errors: list[ContentError] = []
    if missing_dir is not None:
        errors.append(
            ContentError(
                missing_dir,
                None,
                "the lessons folder does not exist; create it and add lessons as NN-name.md files",
            )
        )
    lessons: list[Lesson] = []
    seen_slugs: dict[str, Path] = {}
    seen_orders: dict[int, Path] = {}
    for path, entry in entries:
        parsed = entry.parsed
        errors.extend(parsed.errors)
        if parsed.lesson is None or parsed.front is None:
            continue
        lesson, front = parsed.lesson, parsed.front
        duplicate = False
        if lesson.slug in seen_slugs:
            errors.append(
                ContentError(
                    path,
                    front.slug_line,
                    f'duplicate slug "{lesson.slug}"; '
                    f"{seen_slugs[lesson.slug].name} uses it already",
                )
            )
            duplicate = True
        if lesson.order in seen_orders:
            errors.append(
                ContentError(
                    path,
                    front.order_line,
                    f"duplicate order {lesson.order}; "
                    f"{seen_orders[lesson.order].name} uses it already",
                )
            )
            duplicate = True
        if duplicate:
            continue
        seen_slugs[lesson.slug] = path
        seen_orders[lesson.order] = path
        lessons.append(lesson)
    headings = {lesson.slug: {heading.id for heading in lesson.headings} for lesson in lessons}
    for path, entry in entries:
        errors.extend(_link_errors(path, entry.parsed.links, entry.parsed.lesson, headings))
    # Course order: part by part, then by order within a part (the home page groups by part).
    lessons.sort(key=lambda lesson: (PARTS.index(lesson.part), lesson.order))
    version = hashlib.sha256("".join(entry.digest for _path, entry in entries).encode())
    return Course(tuple(lessons), tuple(errors), version.hexdigest()[:16])


def _current_course() -> Course:
    global _course, _course_key, _course_dir
    directory = lessons_dir()
    _course_dir = directory
    if not directory.is_dir():
        key: tuple[object, ...] = ("missing", str(directory))
        if _course_key != key:
            _course, _course_key = _build([], directory), key
        assert _course is not None
        return _course
    paths = sorted(directory.glob("*.md"))
    entries = [(path, _load(path)) for path in paths]
    for stale in set(_files) - set(paths):
        del _files[stale]
    key = (str(directory), *((str(path), entry.digest) for path, entry in entries))
    if _course is None or _course_key != key:
        _course, _course_key = _build(entries, None), key
    return _course


def get_course() -> Course:
    """The course, ordered; in development re-checked against the files on every call."""
    course = _course
    if course is not None and not settings.CONTENT_AUTO_RELOAD and _course_dir == lessons_dir():
        return course
    with _lock:
        return _current_course()


def reset_cache() -> None:
    """Forget everything loaded (tests point CONTENT_DIR elsewhere)."""
    global _course, _course_key
    with _lock:
        _files.clear()
        _course, _course_key = None, None


def content_errors() -> list[ContentError]:
    """Every problem in the lesson files, read fresh from disk."""
    with _lock:
        _files.clear()
        global _course, _course_key
        _course, _course_key = None, None
        return list(_current_course().errors)
