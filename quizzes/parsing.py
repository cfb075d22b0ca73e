"""Read quiz Markdown (content/quizzes/*.md) and the mistake catalog into frozen dataclasses.

Reading never raises: every problem becomes a ``ContentError`` so that one run of the checks
reports all of them. A quiz file is read in small steps: front matter (the content core's
reader), then the body split into questions and each question into its stem, options and
solution, each read by its own function. ``quizzes.loader`` checks what needs the other
files (lesson exists, mistake exists, ids unique).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import markdown
from django.urls import reverse

from learnsite.content import files, frontmatter, sections
from learnsite.content.errors import ContentError
from lessons.rendering import InlineCodeBreaks

ID_RE = sections.ID_RE
OPTION_RE = re.compile(r"^- \[( |x|X)\] (.+)$")
MISTAKE_TAG_RE = re.compile(r"^\s+mistake:\s*(.*)$")
FIX_TAG_RE = re.compile(r"^\s+fix:\s*(.*)$")
STEP_RE = re.compile(r"^(\d+)\.\s+(.+)$")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
OPTIONS_PER_QUESTION = 4

FRONT_MATTER = frontmatter.FrontMatterSpec(
    kind="a practice set",
    examples={
        "lesson": "lesson: publish-and-subscribe",
        "title": "title: Publish and subscribe with redis-py",
    },
)
CATALOG = sections.SectionsSpec(
    noun="mistake", keys=("Name", "Fix", "Why"), example_id="invented-methods"
)


@dataclass(frozen=True)
class Option:
    id: str  # "o1".."o4" in authored order; stable while the question's text is unchanged
    text_html: str
    correct: bool
    mistake_id: str | None
    line: int
    # Where this choice's mistake is cleared up, when it is not the mistake's own section
    # (an indented ``fix: [<lesson-slug>]#<section-id>`` line under the option).
    fix_lesson: str | None = None
    fix_anchor: str | None = None
    fix_line: int | None = None

    def fix_url(self) -> str | None:
        if self.fix_lesson is None or self.fix_anchor is None:
            return None
        return f"{reverse('lessons:detail', args=[self.fix_lesson])}#{self.fix_anchor}"


@dataclass(frozen=True)
class Question:
    id: str
    lesson_slug: str
    stem_html: str
    options: tuple[Option, ...]
    steps_html: tuple[str, ...]
    final_answer_html: str
    quick_check_html: str
    content_hash: str  # changes whenever the question's Markdown changes
    path: Path
    line: int

    @property
    def correct_option(self) -> Option:
        return next(o for o in self.options if o.correct)

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)

    @property
    def mistake_ids(self) -> tuple[str, ...]:
        return tuple(o.mistake_id for o in self.options if o.mistake_id)


@dataclass(frozen=True)
class PracticeSet:
    lesson_slug: str
    title: str
    questions: tuple[Question, ...]
    path: Path
    line: int
    lesson_line: int = 2  # the front-matter line naming the lesson
    title_line: int = 3  # the front-matter line giving the title


@dataclass(frozen=True)
class Mistake:
    id: str
    name: str
    why_html: str
    lesson_slug: str
    anchor: str
    path: Path
    line: int

    @property
    def url(self) -> str:
        return f"{reverse('lessons:detail', args=[self.lesson_slug])}#{self.anchor}"


@dataclass(frozen=True)
class _Line:
    number: int
    text: str


@dataclass
class _QuestionLines:
    """One question's lines, sorted into its sections."""

    id: str
    line: int
    stem: list[_Line] = field(default_factory=list)
    options: list[_Line] = field(default_factory=list)
    solution: list[_Line] = field(default_factory=list)
    solution_line: int | None = None
    source: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _OptionDraft:
    line: int
    correct: bool
    text: str
    mistake_id: str | None = None
    mistake_line: int | None = None
    fix: str | None = None
    fix_line: int | None = None


@dataclass(frozen=True)
class _Step:
    line: int
    text: str


@dataclass(frozen=True)
class _Solution:
    steps: tuple[_Step, ...]
    final_answer: str | None
    quick_check: str | None


def render_block(text: str) -> str:
    return markdown.markdown(
        text,
        extensions=["fenced_code", "codehilite", InlineCodeBreaks()],
        extension_configs={"codehilite": {"guess_lang": False, "css_class": "highlight"}},
    )


def render_inline(text: str) -> str:
    html = render_block(text).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return html


def _heading(path: Path, line: _Line, errors: list[ContentError]) -> _QuestionLines | None:
    """The question a ``## `` line opens, or None (and a problem) when it opens none."""
    match = re.fullmatch(r"Question\s+(\S+)", line.text[3:].strip())
    if match is None:
        errors.append(
            ContentError(
                path,
                line.number,
                f"'{line.text.strip()}': a '##' heading must be '## Question <id>'",
            )
        )
        return None
    qid = match.group(1)
    if not ID_RE.match(qid):
        errors.append(
            ContentError(
                path,
                line.number,
                f"question id '{qid}' must be lowercase letters, digits and hyphens",
            )
        )
    return _QuestionLines(id=qid, line=line.number, source=[line.text])


def _split_questions(
    path: Path, lines: list[_Line]
) -> tuple[list[_QuestionLines], list[ContentError]]:
    """Cut the body at ``## Question <id>`` headings and sort each question's lines into
    stem (code fences there may hold anything), options and solution."""
    errors: list[ContentError] = []
    questions: list[_QuestionLines] = []
    current: _QuestionLines | None = None
    section = "stem"
    in_fence = False
    stray_reported = False
    for line in lines:
        raw = line.text
        if current is not None:
            current.source.append(raw)
        if in_fence:
            in_fence = not FENCE_RE.match(raw)
            if current is not None:
                current.stem.append(line)
            continue
        if raw.startswith("## "):
            current, section = _heading(path, line, errors), "stem"
            if current is None:
                stray_reported = True
            else:
                questions.append(current)
            continue
        if current is None:
            if raw.strip() and not stray_reported:
                stray_reported = True
                errors.append(
                    ContentError(
                        path,
                        line.number,
                        "text outside a question: start each question with '## Question <id>'",
                    )
                )
            continue
        if raw.strip() == "### Solution":
            section, current.solution_line = "solution", line.number
        elif raw.startswith("#"):
            errors.append(
                ContentError(
                    path,
                    line.number,
                    f"unexpected heading '{raw.strip()}': inside a "
                    "question only '### Solution' is allowed",
                )
            )
        elif section == "solution":
            current.solution.append(line)
        elif section == "options" or OPTION_RE.match(raw):
            section = "options"
            current.options.append(line)
        else:
            in_fence = bool(FENCE_RE.match(raw))
            current.stem.append(line)
    return questions, errors


def _read_options(path: Path, lines: list[_Line]) -> tuple[list[_OptionDraft], list[ContentError]]:
    """``- [x] text`` / ``- [ ] text`` lines, each wrong one followed by ``  mistake: <id>``
    and, where the mistake's own section is not the one that clears up this choice, by
    ``  fix: <lesson-slug>#<section-id>`` (or ``  fix: #<section-id>`` in the quiz's lesson)."""
    options: list[_OptionDraft] = []
    errors: list[ContentError] = []
    for line in lines:
        option = OPTION_RE.match(line.text)
        tag = MISTAKE_TAG_RE.match(line.text)
        fix = FIX_TAG_RE.match(line.text)
        if option:
            correct = option.group(1) in "xX"
            options.append(_OptionDraft(line.number, correct, option.group(2).strip()))
        elif tag and options:
            options[-1] = replace(
                options[-1], mistake_id=tag.group(1).strip(), mistake_line=line.number
            )
        elif fix and options:
            options[-1] = replace(options[-1], fix=fix.group(1).strip(), fix_line=line.number)
        elif line.text.strip():
            errors.append(
                ContentError(
                    path,
                    line.number,
                    "after the options write '### Solution'; "
                    "an option is one line '- [ ] text' followed "
                    "by an indented 'mistake: <id>' line",
                )
            )
    return options, errors


def _read_solution(path: Path, lines: list[_Line]) -> tuple[_Solution, list[ContentError]]:
    """Numbered steps (a step may go on over lines indented by 3 spaces), then
    ``Final answer: ...`` and ``Quick check: ...``."""
    steps: list[_Step] = []
    final_answer: str | None = None
    quick_check: str | None = None
    errors: list[ContentError] = []
    for line in lines:
        raw = line.text
        step = STEP_RE.match(raw)
        if not raw.strip():
            continue
        if raw.startswith("Final answer:"):
            final_answer = raw.removeprefix("Final answer:").strip()
        elif raw.startswith("Quick check:"):
            quick_check = raw.removeprefix("Quick check:").strip()
        elif step:
            steps.append(_Step(line.number, step.group(2).strip()))
        elif raw.startswith("   ") and steps:
            steps[-1] = _Step(steps[-1].line, f"{steps[-1].text} {raw.strip()}")
        else:
            errors.append(
                ContentError(
                    path,
                    line.number,
                    "in a solution write numbered steps "
                    "('1. ...'), then 'Final answer: ...' and "
                    "'Quick check: ...'",
                )
            )
    return _Solution(tuple(steps), final_answer, quick_check), errors


def _option_problems(
    path: Path, where: str, heading_line: int, options: list[_OptionDraft]
) -> list[ContentError]:
    """Problems with the options as a whole are reported on the question's heading line."""
    errors: list[ContentError] = []
    if len(options) != OPTIONS_PER_QUESTION:
        errors.append(
            ContentError(
                path,
                heading_line,
                f"{where} has {len(options)} options; "
                "write exactly four lines '- [ ] ...', one of "
                "them '- [x] ...' for the right answer",
            )
        )
    right = sum(1 for option in options if option.correct)
    if right != 1:
        errors.append(
            ContentError(
                path,
                heading_line,
                f"{where} has {right} options marked right; mark exactly one with '- [x]'",
            )
        )
    for option in options:
        if option.correct and option.mistake_id is not None:
            errors.append(
                ContentError(
                    path,
                    option.mistake_line or option.line,
                    f"{where}: the right option has a "
                    "'mistake:' tag; remove it (only "
                    "wrong options name a mistake)",
                )
            )
        if option.fix is not None and option.correct:
            errors.append(
                ContentError(
                    path,
                    option.fix_line or option.line,
                    f"{where}: the right option has a 'fix:' line; remove it (only a "
                    "wrong option's mistake has a section that clears it up)",
                )
            )
        elif option.fix is not None and _fix_target("", option.fix) is None:
            errors.append(
                ContentError(
                    path,
                    option.fix_line or option.line,
                    f"{where}: 'fix: {option.fix}' must be <lesson-slug>#<section-id>, or "
                    "#<section-id> for a section of this quiz's lesson, e.g. "
                    "fix: from-redis-to-the-browser#three-ways-to-reach-a-browser",
                )
            )
        if not option.correct and not option.mistake_id:
            errors.append(
                ContentError(
                    path,
                    option.line,
                    f"{where}: this wrong option names no mistake; "
                    "add an indented line 'mistake: <id>' under it "
                    "with an id from content/misconceptions.md",
                )
            )
    return errors


def _fix_target(lesson: str, fix: str) -> tuple[str, str] | None:
    """``slug#anchor`` or ``#anchor`` (in ``lesson``) as (slug, anchor); None if malformed."""
    slug, sep, anchor = fix.partition("#")
    slug, anchor = slug.strip() or lesson, anchor.strip()
    if not sep or not anchor or (slug and not ID_RE.match(slug)) or " " in anchor:
        return None
    return slug, anchor


def _solution_problems(
    path: Path, where: str, question: _QuestionLines, solution: _Solution
) -> list[ContentError]:
    errors: list[ContentError] = []
    if question.solution_line is None:
        errors.append(ContentError(path, question.line, f"{where} has no '### Solution' section"))
    elif not solution.steps:
        errors.append(
            ContentError(
                path,
                question.solution_line,
                f"{where}: the solution has no steps; write at least one '1. ...' line",
            )
        )
    at = question.solution_line or question.line
    if not solution.final_answer:
        errors.append(ContentError(path, at, f"{where} has no 'Final answer: ...' line"))
    if not solution.quick_check:
        errors.append(ContentError(path, at, f"{where} has no 'Quick check: ...' line"))
    return errors


def _read_question(
    path: Path, lesson: str, lines: _QuestionLines
) -> tuple[Question | None, list[ContentError]]:
    where = f"question '{lines.id}'"
    stem = "\n".join(line.text for line in lines.stem).strip()
    options, errors = _read_options(path, lines.options)
    solution, solution_errors = _read_solution(path, lines.solution)
    errors.extend(solution_errors)
    if not stem:
        errors.append(
            ContentError(
                path,
                lines.line,
                f"{where} has no question text: write it under the '## Question' heading",
            )
        )
    errors.extend(_option_problems(path, where, lines.line, options))
    errors.extend(_solution_problems(path, where, lines, solution))
    if errors:
        return None, errors
    digest = hashlib.sha256("\n".join(lines.source).strip().encode()).hexdigest()[:16]
    return Question(
        id=lines.id,
        lesson_slug=lesson,
        stem_html=render_block(stem),
        options=tuple(
            _option(f"o{i}", lesson, option) for i, option in enumerate(options, start=1)
        ),
        steps_html=tuple(render_inline(step.text) for step in solution.steps),
        final_answer_html=render_inline(solution.final_answer or ""),
        quick_check_html=render_inline(solution.quick_check or ""),
        content_hash=digest,
        path=path,
        line=lines.line,
    ), []


def _option(option_id: str, lesson: str, draft: _OptionDraft) -> Option:
    target = _fix_target(lesson, draft.fix) if draft.fix is not None else None
    return Option(
        option_id,
        render_inline(draft.text),
        draft.correct,
        draft.mistake_id,
        draft.line,
        fix_lesson=target[0] if target else None,
        fix_anchor=target[1] if target else None,
        fix_line=draft.fix_line if target else None,
    )


def parse_quiz_file(path: Path) -> tuple[PracticeSet | None, list[ContentError]]:
    try:
        text = files.read_text(path)
    except ContentError as exc:
        return None, [exc]
    front, errors = frontmatter.read(path, text, FRONT_MATTER)
    if front is None:
        return None, errors
    lesson = frontmatter.text_value(path, front, FRONT_MATTER, "lesson", errors)
    title = frontmatter.text_value(path, front, FRONT_MATTER, "title", errors)
    body = [
        _Line(number, raw)
        for number, raw in enumerate(front.body.split("\n"), start=front.body_first_line)
    ]
    found, split_errors = _split_questions(path, body)
    errors.extend(split_errors)
    questions: list[Question] = []
    for lines in found:
        question, question_errors = _read_question(path, lesson or "", lines)
        errors.extend(question_errors)
        if question is not None:
            questions.append(question)
    if not found and not errors:
        errors.append(
            ContentError(
                path, front.body_first_line, "no questions: add '## Question <id>' sections"
            )
        )
    if lesson is None:
        return None, errors
    practice = PracticeSet(
        lesson,
        title or "",
        tuple(questions),
        path,
        1,
        lesson_line=front.line("lesson"),
        title_line=front.line("title"),
    )
    return practice, errors


def parse_catalog(path: Path) -> tuple[dict[str, Mistake], list[ContentError]]:
    """The mistake catalog: ``## <id>`` sections with ``Name:``, ``Fix:`` and ``Why:`` lines."""
    if not path.exists():
        return {}, [
            ContentError(
                path,
                1,
                "the mistake catalog is missing: create it with one "
                "'## <mistake-id>' section per mistake",
            )
        ]
    try:
        text = files.read_text(path)
    except ContentError as exc:
        return {}, [exc]
    found, errors = sections.read(path, text, CATALOG)
    mistakes: dict[str, Mistake] = {}
    for section in found:
        mistake = _mistake(path, section, errors)
        if mistake is not None:
            mistakes[mistake.id] = mistake
    return mistakes, errors


def _mistake(path: Path, section: sections.Section, errors: list[ContentError]) -> Mistake | None:
    name, fix, why = (section.last(key) for key in CATALOG.keys)
    missing = [key for key, value in zip(CATALOG.keys, (name, fix, why), strict=True) if not value]
    if missing:
        errors.append(
            ContentError(
                path,
                section.line,
                f"mistake '{section.id}' is missing " + ", ".join(f"'{key}:'" for key in missing),
            )
        )
        return None
    assert name is not None and fix is not None and why is not None
    slug, sep, anchor = fix.text.partition("#")
    if not sep or not slug or not anchor:
        errors.append(
            ContentError(
                path,
                fix.line,
                f"mistake '{section.id}': 'Fix:' must be "
                "<lesson-slug>#<section-id>, e.g. "
                "publish-and-subscribe#listening-for-messages",
            )
        )
        return None
    return Mistake(
        id=section.id,
        name=name.text,
        why_html=render_inline(why.text),
        lesson_slug=slug.strip(),
        anchor=anchor.strip(),
        path=path,
        line=section.line,
    )
