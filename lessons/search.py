"""Full-text search over the lessons, from an in-memory index built once per content version.

Each lesson is split into sections (the intro, then one per ``##``/``###`` heading). A query's
words match words that start with them ("listen" finds "listen", "listens", "listening"), and a
section must contain every word (if none does, sections with some of the words are shown).

A word of four letters or more that starts no word of the course is taken for a typo: it is
replaced by the course's words one edit away (a letter missing, added, changed, or two
neighbours swapped: "listn", "lsiten" and "lisen" all find "listen"), and the results say so.
Those candidates come from a deletion index (every word with each one letter left out), so a
lookup is a few dictionary reads, not a scan of the vocabulary.

The practice questions are searched too: the quizzes app registers them with
``learnsite.content.searchable`` (this app may not import it), and each is shown under its
lesson, linked to the question in its set. The index is rebuilt when the lessons or the
questions change.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from learnsite.content import searchable
from learnsite.content.searchable import SearchDocument, SearchDocuments
from lessons.course import Course, Heading, Lesson

MAX_QUERY_LENGTH = 200
MAX_TERMS = 8
FUZZY_MIN_LENGTH = 4  # shorter words have too many neighbours one edit away
MAX_CORRECTIONS = 3  # words one edit away that a typo may stand for
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
    document: SearchDocument | None = None  # a practice question, not a lesson section


@dataclass(frozen=True)
class Hit:
    heading: Heading | None
    url: str
    snippet: SafeString
    score: float
    label: str = ""  # a practice question's ("Practice question 2"); sections use the heading


@dataclass(frozen=True)
class LessonResult:
    lesson: Lesson
    hits: tuple[Hit, ...]
    score: float
    questions: tuple[Hit, ...] = ()  # its practice questions that match


@dataclass(frozen=True)
class SearchResults:
    query: str
    terms: tuple[str, ...]
    results: tuple[LessonResult, ...]
    partial: bool  # no section had every word; these have some
    dropped_terms: int  # words beyond MAX_TERMS that were ignored
    corrections: tuple[tuple[str, tuple[str, ...]], ...] = ()  # typo -> words searched instead

    @property
    def hit_count(self) -> int:
        return sum(len(result.hits) for result in self.results)

    @property
    def question_count(self) -> int:
        return sum(len(result.questions) for result in self.results)


def query_terms(query: str) -> tuple[tuple[str, ...], int]:
    """The distinct words to look for, without stop words unless that leaves nothing."""
    words = list(dict.fromkeys(tokenize(query)))
    meaningful = [word for word in words if word not in _STOP_WORDS] or words
    return tuple(meaningful[:MAX_TERMS]), max(0, len(meaningful) - MAX_TERMS)


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with one letter missing, added or changed, or two neighbouring
    letters swapped (the Damerau-Levenshtein distance is exactly 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return shorter in _deletions(longer)


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
    return mark_safe("".join(pieces))  # safe: every piece of text above is escaped


class SearchIndex:
    def __init__(self, course: Course, extra: SearchDocuments | None = None) -> None:
        self.version = _version(course, extra)
        self.sections: list[_Section] = []
        self.postings: dict[str, dict[int, int]] = {}
        for lesson in course.lessons:
            for heading, text in lesson.sections:
                heading_words = tokenize(heading.text) if heading else []
                counts = Counter(tokenize(text)) + Counter(heading_words)
                self._add(_Section(lesson, heading, text, counts, frozenset(heading_words)))
        for document in extra.documents if extra is not None else ():
            owner = course.by_slug(document.lesson_slug)
            if owner is not None:
                counts = Counter(tokenize(document.text))
                self._add(_Section(owner, None, document.text, counts, frozenset(), document))
        self.vocabulary = sorted(self.postings)
        self.near: dict[str, set[str]] = {}  # a word with one letter left out -> the words
        for token in self.vocabulary:
            if len(token) >= FUZZY_MIN_LENGTH - 1:
                self.near.setdefault(token, set()).add(token)
                for deleted in _deletions(token):
                    self.near.setdefault(deleted, set()).add(token)
        self.title_tokens = {
            lesson.slug: frozenset(tokenize(lesson.title)) for lesson in course.lessons
        }

    def _add(self, section: _Section) -> None:
        index = len(self.sections)
        self.sections.append(section)
        for token, count in section.counts.items():
            self.postings.setdefault(token, {})[index] = count

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

    def corrections(self, term: str) -> tuple[str, ...]:
        """The course's words one edit away from ``term``, most frequent first (none when
        ``term`` is short or starts a word of the course)."""
        if len(term) < FUZZY_MIN_LENGTH or self._expand(term):
            return ()
        candidates: set[str] = set()
        for key in _deletions(term) | {term}:
            candidates |= self.near.get(key, set())
        found = [word for word in candidates if one_edit_apart(term, word)]
        # A missing letter is the likeliest slip: longer words first, then the commoner.
        found.sort(key=lambda word: (len(word) < len(term), -sum(self.postings[word].values())))
        return tuple(found[:MAX_CORRECTIONS])

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
        corrections = tuple((term, fixed) for term in terms if (fixed := self.corrections(term)))
        replaced = dict(corrections)
        per_term = []
        for term in terms:
            scores: dict[int, float] = {}
            for word in replaced.get(term, (term,)):
                for at, score in self._term_scores(word).items():
                    scores[at] = scores.get(at, 0.0) + score
            per_term.append(scores)
        highlighted = tuple(word for term in terms for word in replaced.get(term, (term,)))
        matching: set[int] = set.intersection(*(set(s) for s in per_term)) if per_term else set()
        partial = False
        if not matching and per_term:
            matching = set().union(*(set(s) for s in per_term))
            partial = bool(matching) and len(terms) > 1
        by_lesson: dict[str, list[Hit]] = {}
        questions: dict[str, list[Hit]] = {}
        lessons: dict[str, Lesson] = {}
        for section_index in matching:
            section = self.sections[section_index]
            score = sum(scores.get(section_index, 0.0) for scores in per_term)
            found = snippet(section.text, highlighted)
            if section.document is not None:
                hit = Hit(None, section.document.url, found, score, section.document.label)
                questions.setdefault(section.lesson.slug, []).append(hit)
            else:
                url = section.lesson.url + (f"#{section.heading.id}" if section.heading else "")
                by_lesson.setdefault(section.lesson.slug, []).append(
                    Hit(section.heading, url, found, score)
                )
            lessons[section.lesson.slug] = section.lesson
        results = []
        for slug in lessons:
            hits = sorted(by_lesson.get(slug, ()), key=lambda hit: -hit.score)
            asked = sorted(questions.get(slug, ()), key=lambda hit: (-hit.score, hit.url))
            # A lesson that only a question mentions ranks below one whose text does.
            best = hits[0].score if hits else 0.5 * asked[0].score
            title_bonus = 4.0 * sum(
                1
                for term in terms
                if any(
                    t.startswith(word)
                    for word in replaced.get(term, (term,))
                    for t in self.title_tokens[slug]
                )
            )
            results.append(
                LessonResult(lessons[slug], tuple(hits[:3]), best + title_bonus, tuple(asked[:3]))
            )
        results.sort(key=lambda result: (-result.score, result.lesson.order))
        return SearchResults(query, terms, tuple(results), partial, dropped, corrections)


def _version(course: Course, extra: SearchDocuments | None) -> str:
    return f"{course.version}+{extra.version}" if extra is not None else course.version


_lock = threading.Lock()
_index: SearchIndex | None = None


def get_index(course: Course) -> SearchIndex:
    """The index for this version of the course and of the registered documents (the practice
    questions), built the first time it is asked for."""
    global _index
    extra = searchable.documents()
    version = _version(course, extra)
    current = _index
    if current is not None and current.version == version:
        return current
    with _lock:
        if _index is None or _index.version != version:
            _index = SearchIndex(course, extra)
        return _index
