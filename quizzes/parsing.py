"""Parse quiz Markdown (content/quizzes/*.md) and the mistake catalog into frozen dataclasses.

Parsing never raises: every problem becomes a `Problem(path, line, message)` so that one run
of `validate_content` reports all of them. `quizzes.loader` turns problems into
`ContentError`s and checks what needs the lessons (lesson exists, section exists).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import markdown
import yaml

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
OPTION_RE = re.compile(r"^- \[( |x|X)\] (.+)$")
MISTAKE_TAG_RE = re.compile(r"^\s+mistake:\s*(.*)$")
STEP_RE = re.compile(r"^(\d+)\.\s+(.+)$")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
FRONT_KEYS = {"lesson", "title"}
CATALOG_KEYS = {"name", "fix", "why"}


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str


@dataclass(frozen=True)
class Option:
    id: str  # "o1".."o4" in authored order; stable while the question's text is unchanged
    text_html: str
    correct: bool
    mistake_id: str | None
    line: int


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
        return f"/lessons/{self.lesson_slug}/#{self.anchor}"


@dataclass
class _Draft:
    """A question while its lines are read; frozen into a `Question` at the end."""

    id: str
    line: int
    stem: list[str] = field(default_factory=list)
    options: list[tuple[int, bool, str, str | None, int | None]] = field(default_factory=list)
    steps: list[tuple[int, str]] = field(default_factory=list)
    final_answer: str | None = None
    quick_check: str | None = None
    solution_line: int | None = None
    source: list[str] = field(default_factory=list)


def render_block(text: str) -> str:
    return markdown.markdown(
        text,
        extensions=["fenced_code", "codehilite"],
        extension_configs={"codehilite": {"guess_lang": False, "css_class": "highlight"}},
    )


def render_inline(text: str) -> str:
    html = render_block(text).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return html


def _front_matter(path: Path, lines: list[str]) -> tuple[dict[str, str], int, list[Problem]]:
    """Returns the front matter, the index of the first body line, and problems."""
    if not lines or lines[0].strip() != "---":
        return (
            {},
            0,
            [
                Problem(
                    path,
                    1,
                    "start the file with front matter: a line '---', "
                    "'lesson: <lesson-slug>', 'title: <title>', '---'",
                )
            ],
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        return {}, 0, [Problem(path, 1, "front matter is not closed: add a line '---' after it")]
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        return {}, end + 1, [Problem(path, 2, f"front matter is not valid YAML ({exc})")]
    if not isinstance(data, dict):
        return {}, end + 1, [Problem(path, 2, "front matter must be 'key: value' lines")]
    problems = []
    for key in sorted(set(map(str, data)) - FRONT_KEYS):
        problems.append(
            Problem(
                path, 2, f"unknown front matter key '{key}': only 'lesson' and 'title' are allowed"
            )
        )
    for key in sorted(FRONT_KEYS - set(map(str, data))):
        problems.append(Problem(path, 2, f"front matter is missing '{key}'"))
    return {str(k): str(v) for k, v in data.items()}, end + 1, problems


def parse_quiz_file(path: Path) -> tuple[PracticeSet | None, list[Problem]]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    front, start, problems = _front_matter(path, lines)
    lesson = front.get("lesson", "")
    drafts: list[_Draft] = []
    current: _Draft | None = None
    section = "none"  # "stem", "options", "solution"
    in_fence = False
    last_option = False
    stray_reported = False
    for index in range(start, len(lines)):
        raw = lines[index]
        number = index + 1
        if current is not None:
            current.source.append(raw)
        if in_fence:
            in_fence = not FENCE_RE.match(raw)
            if current is not None and section == "stem":
                current.stem.append(raw)
            continue
        if raw.startswith("## "):
            heading = raw[3:].strip()
            match = re.fullmatch(r"Question\s+(\S+)", heading)
            if not match:
                problems.append(
                    Problem(
                        path, number, f"'{raw.strip()}': a '##' heading must be '## Question <id>'"
                    )
                )
                current, stray_reported = None, True
                continue
            qid = match.group(1)
            if not ID_RE.match(qid):
                problems.append(
                    Problem(
                        path,
                        number,
                        f"question id '{qid}' must be lowercase letters, digits and hyphens",
                    )
                )
            current = _Draft(id=qid, line=number, source=[raw])
            drafts.append(current)
            section, last_option = "stem", False
            continue
        if current is None:
            if raw.strip() and not stray_reported:
                stray_reported = True
                problems.append(
                    Problem(
                        path,
                        number,
                        "text outside a question: start each question with '## Question <id>'",
                    )
                )
            continue
        option = OPTION_RE.match(raw)
        tag = MISTAKE_TAG_RE.match(raw)
        if raw.strip() == "### Solution":
            section, last_option = "solution", False
            current.solution_line = number
        elif raw.startswith("#"):
            problems.append(
                Problem(
                    path,
                    number,
                    f"unexpected heading '{raw.strip()}': inside a "
                    "question only '### Solution' is allowed",
                )
            )
        elif section in ("stem", "options") and option:
            section, last_option = "options", True
            correct = option.group(1) in "xX"
            current.options.append((number, correct, option.group(2).strip(), None, None))
        elif section == "options" and tag and last_option:
            line, correct, text_, _, _ = current.options[-1]
            current.options[-1] = (line, correct, text_, tag.group(1).strip(), number)
        elif section == "stem":
            if FENCE_RE.match(raw):
                in_fence = True
            current.stem.append(raw)
        elif section == "options" and raw.strip():
            problems.append(
                Problem(
                    path,
                    number,
                    "after the options write '### Solution'; "
                    "an option is one line '- [ ] text' followed "
                    "by an indented 'mistake: <id>' line",
                )
            )
        elif section == "solution" and raw.strip():
            step = STEP_RE.match(raw)
            if raw.startswith("Final answer:"):
                current.final_answer = raw.removeprefix("Final answer:").strip()
            elif raw.startswith("Quick check:"):
                current.quick_check = raw.removeprefix("Quick check:").strip()
            elif step:
                current.steps.append((number, step.group(2).strip()))
            elif raw.startswith("   ") and current.steps:
                line, step_text = current.steps[-1]
                current.steps[-1] = (line, f"{step_text} {raw.strip()}")
            else:
                problems.append(
                    Problem(
                        path,
                        number,
                        "in a solution write numbered steps "
                        "('1. ...'), then 'Final answer: ...' and "
                        "'Quick check: ...'",
                    )
                )
        if not raw.strip():
            last_option = last_option and section == "options"
    questions = []
    for draft in drafts:
        question, found = _freeze(path, lesson, draft)
        problems.extend(found)
        if question is not None:
            questions.append(question)
    if not drafts and not problems:
        problems.append(Problem(path, start + 1, "no questions: add '## Question <id>' sections"))
    if "lesson" not in front:
        return None, problems
    practice = PracticeSet(lesson, front.get("title", ""), tuple(questions), path, 1)
    return practice, problems


def _freeze(path: Path, lesson: str, draft: _Draft) -> tuple[Question | None, list[Problem]]:
    problems: list[Problem] = []
    where = f"question '{draft.id}'"
    stem = "\n".join(draft.stem).strip()
    if not stem:
        problems.append(
            Problem(
                path,
                draft.line,
                f"{where} has no question text: write it under the '## Question' heading",
            )
        )
    if len(draft.options) != 4:
        problems.append(
            Problem(
                path,
                draft.line,
                f"{where} has {len(draft.options)} options; "
                "write exactly four lines '- [ ] ...', one of "
                "them '- [x] ...' for the right answer",
            )
        )
    correct = [o for o in draft.options if o[1]]
    if len(correct) != 1:
        problems.append(
            Problem(
                path,
                draft.line,
                f"{where} has {len(correct)} options marked right; mark exactly one with '- [x]'",
            )
        )
    for line, is_correct, _text, mistake, tag_line in draft.options:
        if is_correct and mistake is not None:
            problems.append(
                Problem(
                    path,
                    tag_line or line,
                    f"{where}: the right option has a "
                    "'mistake:' tag; remove it (only "
                    "wrong options name a mistake)",
                )
            )
        if not is_correct and not mistake:
            problems.append(
                Problem(
                    path,
                    line,
                    f"{where}: this wrong option names no mistake; "
                    "add an indented line 'mistake: <id>' under it "
                    "with an id from content/misconceptions.md",
                )
            )
    if draft.solution_line is None:
        problems.append(Problem(path, draft.line, f"{where} has no '### Solution' section"))
    elif not draft.steps:
        problems.append(
            Problem(
                path,
                draft.solution_line,
                f"{where}: the solution has no steps; write at least one '1. ...' line",
            )
        )
    if not draft.final_answer:
        problems.append(
            Problem(
                path, draft.solution_line or draft.line, f"{where} has no 'Final answer: ...' line"
            )
        )
    if not draft.quick_check:
        problems.append(
            Problem(
                path, draft.solution_line or draft.line, f"{where} has no 'Quick check: ...' line"
            )
        )
    if problems:
        return None, problems
    options = tuple(
        Option(f"o{i}", render_inline(text_), is_correct, mistake, line)
        for i, (line, is_correct, text_, mistake, _tag_line) in enumerate(draft.options, start=1)
    )
    digest = hashlib.sha256("\n".join(draft.source).strip().encode()).hexdigest()[:16]
    return Question(
        id=draft.id,
        lesson_slug=lesson,
        stem_html=render_block(stem),
        options=options,
        steps_html=tuple(render_inline(s) for _, s in draft.steps),
        final_answer_html=render_inline(draft.final_answer or ""),
        quick_check_html=render_inline(draft.quick_check or ""),
        content_hash=digest,
        path=path,
        line=draft.line,
    ), []


def parse_catalog(path: Path) -> tuple[dict[str, Mistake], list[Problem]]:
    """The mistake catalog: '## <id>' sections with 'Name:', 'Fix:' and 'Why:' lines."""
    problems: list[Problem] = []
    mistakes: dict[str, Mistake] = {}
    if not path.exists():
        return {}, [
            Problem(
                path,
                1,
                "the mistake catalog is missing: create it with one "
                "'## <mistake-id>' section per mistake",
            )
        ]
    entries: list[tuple[str, int, dict[str, tuple[int, str]]]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if raw.startswith("## "):
            entries.append((raw[3:].strip(), number, {}))
        elif entries and raw.strip():
            key, sep, value = raw.partition(":")
            key = key.strip().lower()
            if not sep or key not in CATALOG_KEYS:
                if entries[-1][2].get("why") and raw.startswith("  "):
                    line, text_ = entries[-1][2]["why"]
                    entries[-1][2]["why"] = (line, f"{text_} {raw.strip()}")
                    continue
                problems.append(
                    Problem(
                        path,
                        number,
                        "write 'Name: ...', 'Fix: <lesson-slug>#"
                        "<section-id>' or 'Why: ...' lines "
                        "under a mistake",
                    )
                )
                continue
            entries[-1][2][key] = (number, value.strip())
    for mistake_id, line, fields in entries:
        if not ID_RE.match(mistake_id):
            problems.append(
                Problem(
                    path,
                    line,
                    f"mistake id '{mistake_id}' must be lowercase letters, digits and hyphens",
                )
            )
            continue
        if mistake_id in mistakes:
            problems.append(
                Problem(
                    path,
                    line,
                    f"mistake id '{mistake_id}' is used twice; give each mistake its own id",
                )
            )
            continue
        missing = [k for k in ("name", "fix", "why") if not fields.get(k, (0, ""))[1]]
        if missing:
            problems.append(
                Problem(
                    path,
                    line,
                    f"mistake '{mistake_id}' is missing "
                    + ", ".join(f"'{m.title()}:'" for m in missing),
                )
            )
            continue
        fix_line, fix = fields["fix"]
        slug, sep, anchor = fix.partition("#")
        if not sep or not slug or not anchor:
            problems.append(
                Problem(
                    path,
                    fix_line,
                    f"mistake '{mistake_id}': 'Fix:' must be "
                    "<lesson-slug>#<section-id>, e.g. "
                    "publish-and-subscribe#listening-for-messages",
                )
            )
            continue
        mistakes[mistake_id] = Mistake(
            id=mistake_id,
            name=fields["name"][1],
            why_html=render_inline(fields["why"][1]),
            lesson_slug=slug.strip(),
            anchor=anchor.strip(),
            path=path,
            line=line,
        )
    return mistakes, problems
