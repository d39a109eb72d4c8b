"""Finding parts of secrets: every run of PART or more characters of a secret, in any case,
forwards or reversed, spaced out (`a b c d`: `| list | join(' ')`), as a list (`'a', 'b'`,
`"a", "b"`), one per line, or inside the secret's base64 form.

A `[:12]`, a `| reverse` or a prefix trimmed by a shell leaves a run in forms that no
whole-secret pattern can match. The text is read with its letters lower-cased and the
characters that separate list items dropped (space, comma, quotes, line breaks, tabs),
and so is every form of each secret; every PART-character window of those forms goes
into one set. Checking every position of a text against it in Python would cost
milliseconds per 64 KB; instead, since any match of PART (8) or more characters contains
a 4-character piece starting at a multiple of 4, only those pieces are looked up: for
ASCII text as 32-bit integers read straight from its bytes, in C loops. Only around a
known piece are windows checked; matches are mapped back to the text as written (the
separators between them included) and merged, so a longer run is masked whole.
"""

from __future__ import annotations

import base64
import re
import sys
from array import array
from collections.abc import Iterable
from itertools import compress

PART = 8  # secrets this long or longer are masked in every part this long
GRAM = 4  # the piece looked up; PART >= 2 * GRAM - 1, so every match contains an aligned one
SEPARATORS = (" ", ",", "'", '"', "\n", "\r", "\t")
_SEPARATOR_RUN = re.compile("[" + re.escape("".join(SEPARATORS)) + "]+")


def fold(text: str) -> str:
    """Lower case, character for character (`İ`.lower() is two characters: kept as is)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class Parts:
    """The windows of a set of long secrets, each mapped to the secret it comes from."""

    def __init__(self, secrets: Iterable[tuple[int, str]]) -> None:
        self.windows: dict[str, int] = {}
        grams: dict[str, set[int]] = {}  # piece -> lengths of the windows it is in
        for index, secret in secrets:
            for source in _sources(secret):
                for start in range(len(source) - PART + 1):
                    window = source[start : start + PART]
                    self.windows.setdefault(window, index)
                    for g in range(PART - GRAM + 1):
                        grams.setdefault(window[g : g + GRAM], set()).add(PART)
        self.grams = {g: tuple(sorted(lengths)) for g, lengths in grams.items()}
        self._ints = {_as_int(g): g for g in self.grams if g.isascii()}

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, secret index) of every window in `text`, as written."""
        low = fold(text)
        squeezed = _squeeze(low)
        found = self._find(squeezed)
        if not found or len(squeezed) == len(low):
            return found
        where = _positions(low, {p for s, e, _ in found for p in (s, e - 1)})
        return [(where[s], where[e - 1] + 1, idx) for s, e, idx in found]

    def _find(self, text: str) -> list[tuple[int, int, int]]:
        found: list[tuple[int, int, int]] = []
        for p in self._candidates(text):
            for length in self.grams[text[p : p + GRAM]]:
                for q in range(max(0, p + GRAM - length), min(p, len(text) - length) + 1):
                    index = self.windows.get(text[q : q + length])
                    if index is not None:
                        found.append((q, q + length, index))
        return found

    def _candidates(self, text: str) -> list[int]:
        """Positions (multiples of GRAM) of known pieces."""
        if text.isascii():
            raw = text.encode("ascii")
            raw += b"\0" * (-len(raw) % GRAM)
            pieces = array("I", raw) if array("I").itemsize == GRAM else None
            if pieces is not None:
                if self._ints.keys().isdisjoint(pieces):  # most texts: no piece at all
                    return []
                known = map(self._ints.__contains__, pieces)  # C loops, no Python per position
                return list(compress(range(0, len(raw), GRAM), known))
        grams = self.grams
        return [p for p in range(0, len(text) - GRAM + 1, GRAM) if text[p : p + GRAM] in grams]


def mask(text: str, found: list[tuple[int, int, int]], replacement: str) -> str:
    """`text` with each run covered by the found windows (merged) replaced."""
    merged: list[list[int]] = []
    for start, stop, _ in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    out: list[str] = []
    last = 0
    for start, stop in merged:
        out += [text[last:start], replacement]
        last = stop
    out.append(text[last:])
    return "".join(out)


def _positions(low: str, squeezed: set[int]) -> dict[int, int]:
    """Where each squeezed position is in the text: one pass, counting dropped separators
    with str.count (C speed) between consecutive positions."""
    marked = low
    for sep in SEPARATORS:
        marked = marked.replace(sep, "\0")  # same length: separators marked, not dropped
    out: dict[int, int] = {}
    kept = 0  # squeezed position of the character at `at`
    at = _skip(marked, 0)
    for p in sorted(squeezed):
        start, at = at, at + (p - kept)
        extra = marked.count("\0", start, at)
        while extra:  # each separator passed over means one more character to go
            start, at = at, at + extra
            extra = marked.count("\0", start, at)
        at = _skip(marked, at)
        kept = p
        out[p] = at
    return out


def _skip(marked: str, at: int) -> int:
    while at < len(marked) and marked[at] == "\0":
        at += 1
    return at


def _squeeze(text: str) -> str:
    for sep in SEPARATORS:
        if sep in text:
            text = text.replace(sep, "")
    return text


def _sources(secret: str) -> list[str]:
    """Each form of the secret, folded and squeezed as texts are."""
    low = _squeeze(fold(secret))
    out = [low, low[::-1]]
    raw = secret.encode("utf-8")
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        # Only the characters made of the secret's bits alone (see redact._base64_forms).
        core = fold(encoded[-(-offset * 8 // 6) : (offset + len(raw)) * 8 // 6])
        out += [core, core.replace("+", "-").replace("/", "_")]
    return out


def _as_int(piece: str) -> int:
    return int.from_bytes(piece.encode("ascii"), sys.byteorder)
