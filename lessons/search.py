"""Full-text search over the lessons, from an in-memory index built once per content version.

Each lesson is split into sections (the intro, then one per ``##``/``###`` heading). A query's
words match words that start with them ("listen" finds "listen", "listens", "listening"), and a
section must contain every word (if none does, sections with some of the words are shown).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from lessons.course import Course, Heading, Lesson

MAX_QUERY_LENGTH = 200
MAX_TERMS = 8
SNIPPET_RADIUS = 90
_TOKEN_RE = re.compile(r"[a-z0-9_]+")
_STOP_WORDS = frozenset(
    ("a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i")
    + ("in", "is", "it", "of", "on", "or", "the", "to", "what", "when", "where", "which", "who")
    + ("why", "with")
)


class QueryTooLong(ValueError):
    def __init__(self, length: int) -> None:
        super().__init__(
            f"Your search is {length} characters long; searches can be at most "
            f"{MAX_QUERY_LENGTH}. Try two or three key words, e.g. “listen thread”."
        )
        self.length = length


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


@dataclass(frozen=True)
class _Section:
    lesson: Lesson
    heading: Heading | None
    text: str
    counts: Counter[str]
    heading_tokens: frozenset[str]


@dataclass(frozen=True)
class Hit:
    heading: Heading | None
    url: str
    snippet: SafeString
    score: float


@dataclass(frozen=True)
class LessonResult:
    lesson: Lesson
    hits: tuple[Hit, ...]
    score: float


@dataclass(frozen=True)
class SearchResults:
    query: str
    terms: tuple[str, ...]
    results: tuple[LessonResult, ...]
    partial: bool  # no section had every word; these have some
    dropped_terms: int  # words beyond MAX_TERMS that were ignored

    @property
    def hit_count(self) -> int:
        return sum(len(result.hits) for result in self.results)


def query_terms(query: str) -> tuple[tuple[str, ...], int]:
    """The distinct words to look for, without stop words unless that leaves nothing."""
    words = list(dict.fromkeys(tokenize(query)))
    meaningful = [word for word in words if word not in _STOP_WORDS] or words
    return tuple(meaningful[:MAX_TERMS]), max(0, len(meaningful) - MAX_TERMS)


def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9_])(?:{alternatives})[a-z0-9_]*", re.IGNORECASE)


def snippet(text: str, terms: tuple[str, ...]) -> SafeString:
    """A window of ``text`` around the first match, escaped, with the matches in ``<mark>``."""
    pattern = _term_pattern(terms)
    first = pattern.search(text)
    centre = first.start() if first else 0
    start = max(0, centre - SNIPPET_RADIUS)
    end = min(len(text), centre + SNIPPET_RADIUS)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < centre else start
    if end < len(text):
        space = text.rfind(" ", centre, end)
        end = space if space > centre else end
    window = text[start:end]
    pieces: list[str] = ["… " if start > 0 else ""]
    position = 0
    for match in pattern.finditer(window):
        pieces.append(str(escape(window[position : match.start()])))
        pieces.append(f"<mark>{escape(match.group(0))}</mark>")
        position = match.end()
    pieces.append(str(escape(window[position:])))
    pieces.append(" …" if end < len(text) else "")
    return mark_safe("".join(pieces))  # noqa: S308 - every piece of text above is escaped


class SearchIndex:
    def __init__(self, course: Course) -> None:
        self.version = course.version
        self.sections: list[_Section] = []
        self.postings: dict[str, dict[int, int]] = {}
        for lesson in course.lessons:
            for heading, text in lesson.sections:
                heading_words = tokenize(heading.text) if heading else []
                counts = Counter(tokenize(text)) + Counter(heading_words)
                heading_tokens = frozenset(heading_words)
                index = len(self.sections)
                self.sections.append(_Section(lesson, heading, text, counts, heading_tokens))
                for token, count in counts.items():
                    self.postings.setdefault(token, {})[index] = count
        self.vocabulary = sorted(self.postings)
        self.title_tokens = {
            lesson.slug: frozenset(tokenize(lesson.title)) for lesson in course.lessons
        }

    def _expand(self, term: str) -> list[str]:
        if len(term) < 3:
            return [term] if term in self.postings else []
        # The vocabulary is sorted: every word starting with ``term`` sits in one run.
        found: list[str] = []
        for token in self.vocabulary[bisect_left(self.vocabulary, term) :]:
            if not token.startswith(term):
                break
            found.append(token)
        return found

    def _term_scores(self, term: str) -> dict[int, float]:
        scores: dict[int, float] = {}
        for token in self._expand(term):
            weight = 2.0 if token == term else 1.0
            for section, count in self.postings[token].items():
                boost = 3.0 if token in self.sections[section].heading_tokens else 1.0
                scores[section] = scores.get(section, 0.0) + weight * boost * (1 + count) ** 0.5
        return scores

    def search(self, query: str) -> SearchResults:
        query = query.strip()
        if len(query) > MAX_QUERY_LENGTH:
            raise QueryTooLong(len(query))
        terms, dropped = query_terms(query)
        per_term = [self._term_scores(term) for term in terms]
        matching: set[int] = set.intersection(*(set(s) for s in per_term)) if per_term else set()
        partial = False
        if not matching and per_term:
            matching = set().union(*(set(s) for s in per_term))
            partial = bool(matching) and len(terms) > 1
        by_lesson: dict[str, list[Hit]] = {}
        lessons: dict[str, Lesson] = {}
        for section_index in matching:
            section = self.sections[section_index]
            score = sum(scores.get(section_index, 0.0) for scores in per_term)
            url = section.lesson.url + (f"#{section.heading.id}" if section.heading else "")
            hit = Hit(section.heading, url, snippet(section.text, terms), score)
            by_lesson.setdefault(section.lesson.slug, []).append(hit)
            lessons[section.lesson.slug] = section.lesson
        results = []
        for slug, hits in by_lesson.items():
            hits.sort(key=lambda hit: -hit.score)
            title_bonus = 4.0 * sum(
                1 for term in terms if any(t.startswith(term) for t in self.title_tokens[slug])
            )
            results.append(
                LessonResult(lessons[slug], tuple(hits[:3]), hits[0].score + title_bonus)
            )
        results.sort(key=lambda result: (-result.score, result.lesson.order))
        return SearchResults(query, terms, tuple(results), partial, dropped)


_lock = threading.Lock()
_index: SearchIndex | None = None


def get_index(course: Course) -> SearchIndex:
    """The index for this version of the course, built the first time it is asked for."""
    global _index
    current = _index
    if current is not None and current.version == course.version:
        return current
    with _lock:
        if _index is None or _index.version != course.version:
            _index = SearchIndex(course)
        return _index
