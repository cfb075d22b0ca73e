"""The live pieces a lesson can show: ``::: embed <name> [<arg>]`` lines, and the pieces shown
after every lesson (its practice set).

Each app registers its own pieces in its ``AppConfig.ready()``; the lessons read this
registry to check embed lines and to render them, so they never import the app that
provides a piece. Adding an embed: a template in the app, and one :func:`register` call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

ArgRule = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class EmbedUse:
    """One embed line in one lesson (or the lesson-end piece of a lesson, with no line)."""

    name: str
    arg: str | None
    path: Path
    line: int | None
    lesson_slug: str


# What is wrong with a use's argument (say what to write instead); [] when it is fine.
Validator = Callable[[EmbedUse], list[str]]
# Extra template context for one use, on one request. It only reads.
ContextBuilder = Callable[[HttpRequest, EmbedUse], Mapping[str, object]]
# Whether this request may see what the use holds back (see ``Embed.holds_output``). Reads.
Revealer = Callable[[HttpRequest, EmbedUse], bool]
# Everything a use's HTML depends on for this reader besides the lesson text, the CSRF
# token and what ``Embed.fill`` puts in; None: this reader's HTML is not kept (see
# ``Embed.kept_by``). Reads.
KeyBuilder = Callable[[HttpRequest, EmbedUse], Hashable | None]
# This reader's own strings for the markers a kept piece holds (see ``Embed.fill``): HTML,
# put in as it is. Reads.
Filler = Callable[[HttpRequest, EmbedUse], Mapping[str, str]]


@dataclass(frozen=True)
class Embed:
    name: str
    template: str  # gets embed_arg, lesson and request, plus what ``context`` returns
    arg: ArgRule = "none"
    validate: Validator | None = None
    context: ContextBuilder | None = None
    # A piece that asks a question whose answer is the output of the next runnable (or
    # output) block: the lesson holds that block back, server-side, and shows it only when
    # ``reveal`` says this request may see it (a prediction once it is locked in).
    holds_output: bool = False
    reveal: Revealer | None = None
    # The template shows every reader the same thing for a given lesson text (no learner,
    # no live state, no request; a ``{% csrf_token %}`` is filled in per response): the
    # lesson renders it once per content version instead of once per request.
    static: bool = False
    # For a piece that depends on the reader in a few ways: their key (for example their
    # locked predictions). The lesson renders it once per key (``context`` runs only then)
    # and keeps the HTML; readers in the same state share it. A key of None renders this
    # reader's piece for them alone.
    kept_by: KeyBuilder | None = None
    # For a kept piece that also shows each reader something of their own (their sandbox
    # prefix, their order of a quiz's options): ``context`` gives markers in its place, the
    # kept HTML holds them, and each request puts in what ``fill`` returns for them.
    fill: Filler | None = None
    # Its context reads Redis or the database even for a reader without a session (the
    # live feed's kick-off box): a lesson page that holds it is never rendered on the
    # event loop (``lessons.views.lesson_detail``).
    blocks: bool = False

    def __post_init__(self) -> None:
        if self.static and (self.context is not None or self.reveal is not None):
            raise ImproperlyConfigured(
                f'embed "{self.name}" is static: it cannot have a per-request context or reveal'
            )
        if self.fill is not None and self.kept_by is None:
            raise ImproperlyConfigured(
                f'embed "{self.name}" has a fill but no kept_by: only a kept piece has markers'
            )

    def line_problem(self, arg: str | None) -> str | None:
        """What is wrong with the embed line's shape (before any validator runs)."""
        if self.arg == "required" and not arg:
            return f'embed "{self.name}" needs an argument; write ::: embed {self.name} <id>'
        if self.arg == "none" and arg:
            return f'embed "{self.name}" takes no argument; write ::: embed {self.name}'
        return None


_embeds: dict[str, Embed] = {}
_lesson_end: dict[str, Embed] = {}


def _add(registry: dict[str, Embed], embed: Embed) -> None:
    known = registry.get(embed.name)
    if known is not None and known != embed:
        raise ImproperlyConfigured(f'two different embeds are registered as "{embed.name}"')
    registry[embed.name] = embed


def register(embed: Embed) -> None:
    """Make ``::: embed <embed.name>`` available to lessons (call from ``ready()``)."""
    _add(_embeds, embed)


def register_lesson_end(embed: Embed) -> None:
    """Show ``embed`` after the body of every lesson, in registration order."""
    _add(_lesson_end, embed)


def get(name: str) -> Embed | None:
    return _embeds.get(name)


def names() -> tuple[str, ...]:
    """Every embed name, in the order the apps registered them."""
    return tuple(_embeds)


def lesson_end() -> tuple[Embed, ...]:
    return tuple(_lesson_end.values())
