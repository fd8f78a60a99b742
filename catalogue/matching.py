"""Match an observed failure against the catalogue: exact, pattern, then fuzzy.

A failure is seen as `<code>: <message>` after normalisation, which masks what
varies between occurrences (numbers, ids, quoted literals), so one failure mode
has one text however many times it happens, and an echoed input never reaches
the catalogue. Unmatched failures are misses, grouped by that text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from rapidfuzz import fuzz

from catalogue.modes import Catalogue, FailureMode

MAX_MESSAGE = 300
FUZZY_THRESHOLD = 85.0  # rapidfuzz ratio or token-set ratio, 0-100
PATTERN_CONFIDENCE = 0.9
FUZZY_WEIGHT = 0.8  # a fuzzy match is never as sure as a pattern

_MASKS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
]


def normalise(message: str) -> str:
    """Lower case, literals masked, whitespace collapsed, bounded length."""
    text = message[: MAX_MESSAGE * 4]
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text.strip().lower()[:MAX_MESSAGE]


class MatchType(StrEnum):
    EXACT = "exact"
    PATTERN = "pattern"
    FUZZY = "fuzzy"
    MISS = "miss"


@dataclass(frozen=True)
class Failure:
    """What the matcher sees of one failure (the rest of the envelope is context)."""

    code: str
    message: str = ""
    status: int | None = None

    @cached_property
    def text(self) -> str:
        message = normalise(self.message)
        return f"{self.code.lower()}: {message}" if message else self.code.lower()

    @cached_property
    def signature(self) -> str:
        """Stable id of the normalised failure, for grouping misses."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Match:
    mode: FailureMode | None
    type: MatchType
    confidence: float


MISS = Match(None, MatchType.MISS, 0.0)


class Matcher:
    """Compiled once per catalogue; `match` is pure and cheap (no I/O)."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self._patterns = {m.id: [re.compile(p, re.I) for p in m.signature.patterns]
                          for m in catalogue.modes}

    def match(self, failure: Failure) -> Match:
        candidates = [m for m in self.catalogue.modes
                      if not (m.signature.statuses and failure.status is not None
                              and failure.status not in m.signature.statuses)]
        for mode in candidates:
            if failure.code in mode.signature.codes:
                return Match(mode, MatchType.EXACT, 1.0)
        for mode in candidates:
            if any(p.search(failure.text) for p in self._patterns[mode.id]):
                return Match(mode, MatchType.PATTERN, PATTERN_CONFIDENCE)
        best: tuple[float, FailureMode | None] = (0.0, None)
        for mode in candidates:
            for example in mode.signature.examples:
                score = max(fuzz.ratio(failure.text, example.lower()),
                            fuzz.token_set_ratio(failure.text, example.lower()))
                if score > best[0]:
                    best = (score, mode)
        if best[1] is not None and best[0] >= FUZZY_THRESHOLD:
            return Match(best[1], MatchType.FUZZY, round(best[0] / 100 * FUZZY_WEIGHT, 3))
        return MISS
