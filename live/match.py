"""A made-up football match as a list of updates, for simulate_match and the demo."""

from __future__ import annotations

import random
from dataclasses import dataclass

_PLAYERS = {
    "home": ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak"],
    "away": ["Haddad", "Kowalski", "Brennan", "Ito", "Mensah", "Duarte"],
}


@dataclass(frozen=True)
class MatchUpdate:
    kind: str  # kickoff | minute | goal | card | halftime | fulltime
    minute: int
    text: str
    score: tuple[int, int]

    def as_event(self, home: str, away: str) -> dict[str, object]:
        return {
            "kind": self.kind,
            "minute": self.minute,
            "teams": {"home": home, "away": away},
            "score": {"home": self.score[0], "away": self.score[1]},
            "text": self.text,
        }


def play(*, home: str, away: str, events: int, seed: int | None = None) -> list[MatchUpdate]:
    """About ``events`` updates (at least kick-off, half-time and full-time) over 90'."""
    rng = random.Random(seed)
    middle = max(0, events - 3)
    minutes = sorted(rng.sample(range(1, 91), k=min(middle, 89))) if middle else []
    minutes += [rng.randint(1, 90) for _ in range(middle - len(minutes))]
    minutes.sort()
    score = [0, 0]
    updates = [MatchUpdate("kickoff", 0, f"Kick-off: {home} v {away}.", (0, 0))]
    half_time_done = False
    for minute in minutes:
        if minute > 45 and not half_time_done:
            updates.append(
                MatchUpdate(
                    "halftime",
                    45,
                    _score_line("Half-time", home, away, score),
                    (score[0], score[1]),
                )
            )
            half_time_done = True
        side = rng.choice(["home", "away"])
        team = home if side == "home" else away
        player = rng.choice(_PLAYERS[side])
        roll = rng.random()
        if roll < 0.3:
            score[0 if side == "home" else 1] += 1
            kind, text = (
                "goal",
                f"{minute}' GOAL! {player} scores for {team}. "
                + _score_line("Score", home, away, score),
            )
        elif roll < 0.5:
            colour = "red" if rng.random() < 0.15 else "yellow"
            kind, text = "card", f"{minute}' {colour.capitalize()} card for {player} ({team})."
        else:
            kind, text = "minute", f"{minute}' {team} keep the ball; {player} looks for space."
        updates.append(MatchUpdate(kind, minute, text, (score[0], score[1])))
    if not half_time_done:
        updates.append(
            MatchUpdate(
                "halftime", 45, _score_line("Half-time", home, away, score), (score[0], score[1])
            )
        )
    updates.append(
        MatchUpdate(
            "fulltime", 90, _score_line("Full-time", home, away, score), (score[0], score[1])
        )
    )
    return updates


def _score_line(label: str, home: str, away: str, score: list[int]) -> str:
    return f"{label}: {home} {score[0]}-{score[1]} {away}."
