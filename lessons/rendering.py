"""Markdown body of a lesson -> HTML, once per content version.

Python-Markdown does the prose (toc, fenced_code + codehilite, admonition, tables, attr_list).
A preprocessor of ours reads the body line by line first, because it alone knows file line
numbers: it validates callouts, embeds and links, and renders the runnable code blocks with
their output itself.
"""

from __future__ import annotations

import dataclasses
import html
import math
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import markdown
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from learnsite.content import embeds
from learnsite.content.errors import ContentError
from lessons.course import EmbedRef, Heading, HeldBlock, RunnableBlock

CALLOUTS = ("note", "warning", "tip")
WORDS_PER_MINUTE = 200

_FENCE_RE = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
_CALLOUT_RE = re.compile(r'^!!!\s*(?P<kind>[^\s"]*)')
_EMBED_RE = re.compile(r"^:::[ \t]+embed[ \t]+(?P<name>\S+)(?:[ \t]+(?P<arg>\S+))?[ \t]*$")
_INLINE_LINK_RE = re.compile(r"\]\(\s*<?(?P<target>[^)\s>]+)")
_REF_DEF_RE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(?P<target>[^\s>]+)")
_CODE_SPAN_RE = re.compile(r"`+[^`]*`+")
_HEADING_TAG_RE = re.compile(r'<h(?P<level>[23]) id="(?P<id>[^"]+)"[^>]*>.*?</h(?P=level)>', re.S)
_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)


@dataclass(frozen=True)
class InternalLink:
    line: int
    slug: str | None  # None: a fragment in the same lesson
    fragment: str | None


@dataclass
class RenderedBody:
    html: str
    headings: tuple[Heading, ...]
    runnable_blocks: tuple[RunnableBlock, ...]
    embeds: tuple[EmbedRef, ...]
    links: tuple[InternalLink, ...]
    sections: tuple[tuple[Heading | None, str], ...]
    reading_minutes: int
    errors: list[ContentError] = field(default_factory=list)


def embed_slot(index: int) -> str:
    return f"<!--lesson-embed-{index}-->"


def held_slot(index: int) -> str:
    return f"<!--lesson-held-{index}-->"


def held_dom_id(name: str, arg: str | None) -> str:
    """The id of the element that holds an embed's answer (the same on every request)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"held-{name}-{arg or ''}".rstrip("-"))


@dataclass
class _ScanState:
    path: Path
    first_line: int
    errors: list[ContentError] = field(default_factory=list)
    runnable: list[RunnableBlock] = field(default_factory=list)
    embeds: list[EmbedRef] = field(default_factory=list)
    links: list[InternalLink] = field(default_factory=list)
    # The embed (index into ``embeds``) that holds back the next runnable or output block.
    holding: int | None = None

    def error(self, index: int, message: str) -> None:
        self.errors.append(ContentError(self.path, self.first_line + index, message))


def _code_html(code: str) -> str:
    return highlight(code, PythonLexer(), _FORMATTER)


# The code lab (the lab app) makes every runnable block editable: lab.js mounts an editor
# on the section, runs the code through /lab/run and keeps the learner's draft per block.
# The static figure is what a reader without JavaScript sees.
LAB_RUN_URL = "/lab/run"
LAB_DRAFT_URL = "/lab/drafts"


_HELD_NOTE = (
    '<p class="held-note">The output is hidden until you answer the question above; '
    "then it shows here, and you can run the code yourself.</p>"
)


def _concealed_runnable_html(code: str) -> str:
    """A held runnable block before its question is answered: the code to read, no Run
    (running it would print the answer) and no output."""
    return "".join(
        [
            '<section class="lab lab-runnable lab-held" aria-label="Example (runs once you have '
            'answered)">',
            '<figure class="code-runnable lab-static">',
            "<figcaption>Python</figcaption>",
            _code_html(code),
            "</figure>",
            "</section>",
            _HELD_NOTE,
        ]
    )


def _runnable_html(code: str, output: str | None, block: str) -> str:
    parts = [
        f'<section class="lab lab-runnable" data-lab data-lab-block="{html.escape(block)}" '
        f'data-lab-exercise="" data-lab-run-url="{LAB_RUN_URL}" '
        f'data-lab-draft-url="{LAB_DRAFT_URL}" data-lab-fetch-draft aria-label="Runnable example">',
        '<figure class="code-runnable lab-static">',
        '<figcaption><span class="badge-tested" title="This code has been run against a '
        'real Redis, and its output checked">tested</span> Python</figcaption>',
        _code_html(code),
        "</figure>",
        f"<textarea data-lab-source hidden>{html.escape(code)}</textarea>",
        "<textarea data-lab-draft hidden></textarea>",
        "</section>",
    ]
    if output is not None:
        parts.append(_output_html(output))
    return "".join(parts)


def _diagram_html(drawing: str, described: str) -> str:
    """A drawing in characters: one image to a screen reader (its sentence), no copy button
    (copying a picture of arrows helps nobody), scrollable by keyboard when wide."""
    return (
        f'<figure class="diagram"><pre role="img" aria-label="{html.escape(described)}" '
        f'tabindex="0">{html.escape(drawing)}</pre></figure>'
    )


def _output_html(output: str) -> str:
    return (
        '<figure class="code-output"><figcaption>Output</figcaption>'
        f'<div class="highlight output"><pre><code>{html.escape(output)}</code></pre></div>'
        "</figure>"
    )


class _LessonPreprocessor(Preprocessor):
    def __init__(self, md: markdown.Markdown, state: _ScanState) -> None:
        super().__init__(md)
        self.state = state

    def _stash(self, out: list[str], html_text: str) -> None:
        out.extend(["", self.md.htmlStash.store(html_text), ""])

    def _read_fence(self, lines: list[str], start: int, fence: str) -> tuple[list[str], int]:
        """Lines inside a fence opened at ``start``; the index of its closing line or -1."""
        for index in range(start + 1, len(lines)):
            stripped = lines[index].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                return lines[start + 1 : index], index
        return lines[start + 1 :], -1

    def run(self, lines: list[str]) -> list[str]:  # one pass, one switch
        state = self.state
        out: list[str] = []
        index = 0
        while index < len(lines):
            line = lines[index]
            fence_match = _FENCE_RE.match(line)
            if fence_match:
                fence = fence_match["fence"]
                info = fence_match["info"].split()
                inner, close = self._read_fence(lines, index, fence)
                if close < 0:
                    state.error(index, f"code block is never closed; add a line {fence} to end it")
                    close = len(lines) - 1
                if info[:2] == ["python", "runnable"]:
                    index = self._runnable(lines, index, inner, close, out)
                    continue
                if info[:1] == ["output"]:
                    self._stash_maybe_held(out, _output_html("\n".join(inner)), _HELD_NOTE)
                elif info[:1] == ["diagram"]:
                    described = " ".join(info[1:])
                    if not described:
                        state.error(
                            index,
                            "a diagram needs words for readers who cannot see it: write "
                            "```diagram <what it shows, in one sentence>",
                        )
                    self._stash(out, _diagram_html("\n".join(inner), described))
                else:
                    # fenced_code understands one language word; anything after it is dropped.
                    out.append(f"{fence}{info[0]}" if info else fence)
                    out.extend(inner)
                    out.append(fence)
                index = close + 1
                continue
            self._prose_line(index, line, lines, out)
            index += 1
        return out

    def _runnable(
        self, lines: list[str], start: int, inner: list[str], close: int, out: list[str]
    ) -> int:
        code = "\n".join(inner)
        after = close + 1
        while after < len(lines) and not lines[after].strip():
            after += 1
        output_match = _FENCE_RE.match(lines[after]) if after < len(lines) else None
        if output_match is None or output_match["info"].split()[:1] != ["output"]:
            self.state.error(
                start,
                "runnable block has no output block after it; add a blank line and a "
                "```output block with exactly what the code prints",
            )
            self._stash(out, _runnable_html(code, None, self._block_id()))
            return close + 1
        output_lines, output_close = self._read_fence(lines, after, output_match["fence"])
        if output_close < 0:
            self.state.error(after, "code block is never closed; add a line ``` to end it")
            output_close = len(lines) - 1
        output = "\n".join(output_lines)
        block = self._block_id()
        self.state.runnable.append(RunnableBlock(code, output, self.state.first_line + start))
        self._stash_maybe_held(
            out, _runnable_html(code, output, block), _concealed_runnable_html(code)
        )
        return output_close + 1

    def _stash_maybe_held(self, out: list[str], shown: str, concealed: str) -> None:
        """Stash a block, or, when an embed before it holds its answer, a slot for it."""
        state = self.state
        if state.holding is None:
            self._stash(out, shown)
            return
        index, state.holding = state.holding, None
        ref = state.embeds[index]
        dom_id = held_dom_id(ref.name, ref.arg)
        slot = held_slot(index)
        state.embeds[index] = dataclasses.replace(
            ref,
            held=HeldBlock(
                slot, dom_id, _keyboard_scrollers(shown), _keyboard_scrollers(concealed)
            ),
        )
        self._stash(out, f'<div class="lesson-held" id="{dom_id}">{slot}</div>')

    def _block_id(self) -> str:
        """The key of a learner's draft of the next runnable block: file and ordinal."""
        return f"{self.state.path.stem}:{len(self.state.runnable) + 1}"

    def _prose_line(self, index: int, line: str, lines: list[str], out: list[str]) -> None:
        state = self.state
        if line.startswith("!!!"):
            kind = _CALLOUT_RE.match(line) or _CALLOUT_RE.match("!!!")
            name = kind["kind"] if kind else ""
            if name not in CALLOUTS:
                state.error(index, f'unknown callout type "{name}"; use note, warning or tip')
            nxt = next((candidate for candidate in lines[index + 1 :] if candidate.strip()), "")
            if not nxt.startswith("    "):
                state.error(
                    index,
                    "callout has no body; indent its text by 4 spaces on the "
                    "lines under the !!! line",
                )
            out.append(line)
            return
        if line.startswith(":::"):
            self._embed(index, line, out)
            return
        if line.startswith("##"):
            state.holding = None  # an embed holds a block of its own section only
        if re.match(r"^#(?!#)\s", line):
            state.error(
                index,
                "use ## for sections (and ### below them); the lesson's title "
                "comes from its front matter",
            )
        without_code = _CODE_SPAN_RE.sub("", line)
        targets = [m["target"] for m in _INLINE_LINK_RE.finditer(without_code)]
        ref = _REF_DEF_RE.match(without_code)
        if ref:
            targets.append(ref["target"])
        for target in targets:
            link = _internal_link(state.first_line + index, target)
            if link is not None:
                state.links.append(link)
        out.append(line)

    def _embed(self, index: int, line: str, out: list[str]) -> None:
        state = self.state
        match = _EMBED_RE.match(line)
        if match is None:
            state.error(
                index,
                "cannot read this embed line; write ::: embed <name> or "
                "::: embed <name> <arg> on a line of its own",
            )
            return
        name, arg = match["name"], match["arg"]
        embed = embeds.get(name)
        if embed is None:
            state.error(index, f'unknown embed "{name}"; use one of {", ".join(embeds.names())}')
            return
        problem = embed.line_problem(arg)
        if problem is not None:
            state.error(index, problem)
            return
        slot = embed_slot(len(state.embeds))
        state.holding = len(state.embeds) if embed.holds_output else None
        state.embeds.append(EmbedRef(name, arg, state.first_line + index, slot))
        self._stash(out, f'<div class="lesson-embed" data-embed="{html.escape(name)}">{slot}</div>')


def _internal_link(line: int, target: str) -> InternalLink | None:
    if target.startswith("#"):
        return InternalLink(line, None, target[1:] or None)
    match = re.match(r"^/lessons/(?P<slug>[^/#?]*)/?(?:#(?P<fragment>.*))?$", target)
    if match is None:
        return None
    return InternalLink(line, match["slug"], match["fragment"] or None)


_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "pre",
        "li",
        "td",
        "th",
        "tr",
        "h2",
        "h3",
        "h4",
        "br",
        "figure",
        "blockquote",
        "ul",
        "ol",
        "table",
    }
)


class _TextExtractor(HTMLParser):
    """Visible text of rendered lesson HTML, minus figure captions ("tested", "Output")."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._in_caption = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figcaption":
            self._in_caption += 1
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption" and self._in_caption:
            self._in_caption -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._in_caption:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def _flatten(tokens: list[dict[str, Any]]) -> list[Heading]:
    found: list[Heading] = []
    for token in tokens:
        if 2 <= int(token["level"]) <= 3:
            found.append(
                Heading(str(token["id"]), html.unescape(str(token["name"])), int(token["level"]))
            )
        found.extend(_flatten(token.get("children", [])))
    return found


def _sections(
    body_html: str, headings: tuple[Heading, ...]
) -> tuple[tuple[Heading | None, str], ...]:
    by_id = {heading.id: heading for heading in headings}
    sections: list[tuple[Heading | None, str]] = []
    position = 0
    current: Heading | None = None
    for match in _HEADING_TAG_RE.finditer(body_html):
        sections.append((current, html_to_text(body_html[position : match.start()])))
        current = by_id.get(match["id"])
        position = match.end()
    sections.append((current, html_to_text(body_html[position:])))
    return tuple((heading, text) for heading, text in sections if heading is not None or text)


def _keyboard_scrollers(fragment: str) -> str:
    """Code that scrolls sideways must be reachable by keyboard."""
    fragment = fragment.replace(
        '<div class="highlight"><pre>', '<div class="highlight"><pre tabindex="0">'
    )
    return fragment.replace(
        '<div class="highlight output"><pre>', '<div class="highlight output"><pre tabindex="0">'
    )


# Where a long inline code span may go on to the next line: after an opening bracket, a comma,
# an equals sign or a slash, and after a dot before a name (never inside a word, never in 0.5).
_CODE_BREAK_RE = re.compile(r"(?<=[(,=/])(?=[\w'\"])|(?<=[A-Za-z_)]\.)(?=[A-Za-z_])")


class _CodeBreaks(Treeprocessor):
    """Inline code keeps whole words: a span too long for a phone's line, such as
    ``r.pubsub(ignore_subscribe_messages=True)``, gets ``<wbr>`` break points after its
    punctuation, so it wraps there instead of in the middle of a name."""

    def run(self, root: Any) -> None:
        # Code blocks are stashed by codehilite before this runs (and a <wbr> in a <pre>
        # would change nothing): what is left is inline code, plain text.
        for code in list(root.iter("code")):
            text = code.text or ""
            if len(code) or len(text) < 16:
                continue
            pieces = _CODE_BREAK_RE.split(text)
            code.text = AtomicString(pieces[0])
            for piece in pieces[1:]:
                wbr = ElementTree.SubElement(code, "wbr")
                wbr.tail = AtomicString(piece)


class InlineCodeBreaks(markdown.Extension):
    """``_CodeBreaks`` for any Markdown (the practice sets' questions use it too)."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_CodeBreaks(md), "code_breaks", 4)


def _scrolling_tables(fragment: str) -> str:
    """A table too wide for the screen scrolls inside its own box (``.table-scroll``), so
    its cells keep whole words and the page never scrolls sideways."""
    return fragment.replace("<table>", '<div class="table-scroll"><table>').replace(
        "</table>", "</table></div>"
    )


def render_body(path: Path, body: str, first_line: int) -> RenderedBody:
    state = _ScanState(path, first_line)
    md = markdown.Markdown(
        extensions=[
            "toc",
            "fenced_code",
            "codehilite",
            "admonition",
            "tables",
            "attr_list",
            InlineCodeBreaks(),
        ],
        extension_configs={
            "toc": {"permalink": False, "toc_depth": "2-3"},
            "codehilite": {"css_class": "highlight", "guess_lang": False, "wrapcode": True},
        },
        output_format="html",
    )
    md.preprocessors.register(_LessonPreprocessor(md, state), "lesson_scan", 28)
    body_html = md.convert(body)
    body_html = _scrolling_tables(_keyboard_scrollers(body_html))
    # Callouts are asides to the text; say so to assistive technology.
    body_html = re.sub(
        r'<div class="admonition ([\w -]+)">', r'<div class="admonition \1" role="note">', body_html
    )
    headings = tuple(_flatten(getattr(md, "toc_tokens", [])))
    # Search and reading time see a held block as a learner first does: code, no answer.
    searchable = body_html
    for ref in state.embeds:
        if ref.held is not None:
            code_only = ref.held.concealed.replace(_HELD_NOTE, "")
            searchable = searchable.replace(ref.held.slot, code_only, 1)
    sections = _sections(searchable, headings)
    words = sum(len(text.split()) for _heading, text in sections)
    return RenderedBody(
        html=body_html,
        headings=headings,
        runnable_blocks=tuple(state.runnable),
        embeds=tuple(state.embeds),
        links=tuple(state.links),
        sections=sections,
        reading_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
        errors=state.errors,
    )
