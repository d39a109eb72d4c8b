"""Secret masking: applied once, where the runner builds the journal and events.

A secret leaves a run in more forms than the one it was typed in: a failure explanation
shows Python's repr (`\\` doubled), JSON escapes `"` and `\\`, HTML escapes `&` and `"`,
a URL percent-encodes it, `| upper` changes its case, Basic auth base64-encodes it. So
every secret becomes a pattern that matches it character by character, where each
character may be written as itself or in any of those escapes, and a character may carry
escaping backslashes (repr of JSON, or a shell that escaped only the quotes). Base64 forms
are added as exact alternatives. Patterns are compiled once per set of secret values (a
run builds its Redactor many times).

Parts of secrets: every run of 8 or more characters of a secret (secretparts.py) is masked
too, in any case, forwards or reversed, spaced out or in base64: `| reverse`, `[:12]` or a
shell's `${KEY:0:10}` leave such runs. Over-masking can be undone by a reader; a leak
cannot.

Speed (masking runs on every output and message of every step): running every secret's
pattern over every text cost 124 ms per 64 KB with 100 secrets. Now a pattern runs only
where its secret may be (benchmarks/redact_speed.py: about 2 ms):
- a secret of 8 or more characters whose every form keeps a run of 8 or more letters and
  digits (escaping never changes letters or digits, only their case) is looked for by its
  parts; its pattern runs only near a part found;
- any other secret whose forms keep a run of GATE letters and digits: its pattern runs
  only in a text that holds that run (or, for a short one, its base64 core);
- the rest (mostly punctuation) run on every text, as every secret did before.
"""
from __future__ import annotations

import base64
import functools
import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from runbook_engine.secretparts import PART, Parts, fold, mask

MASK = "***"
MAX_TEXT = 4000
MAX_ITEMS = 50
# A character-by-character pattern grows about 100 bytes per character; beyond this a
# secret (a PEM key...) is matched only in its exact forms, so compiling stays quick.
FLEXIBLE_MAX = 512
# A base64 fragment shorter than this could occur by chance in unrelated base64 text.
BASE64_MIN = 6
_BACKSLASHES = r"\\*"

_ENTITIES = {
    "&": ("&amp;",),
    '"': ("&quot;",),
    "'": ("&apos;",),
    "<": ("&lt;",),
    ">": ("&gt;",),
}
# JSON's one-letter escapes that repr does not use.
_JSON_SHORT = {"\b": "b", "\f": "f"}


class Redactor:
    """Replaces every secret value in strings, recursively; also trims large data."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        # Longest first, so a secret containing another is masked whole. Very short
        # values would mask ordinary text everywhere; they are still masked.
        values = tuple(sorted({v for v in (secrets or {}).values() if v}, key=lambda v: (-len(v), v)))
        self._plan = _plan(values) if values else None

    def text(self, value: str) -> str:
        plan = self._plan
        if plan is None or not value:
            return value
        if plan.always is not None:
            value = plan.always.sub(MASK, value)
        if plan.gated:
            low = fold(value)
            for needles, index in plan.gated:
                if any(n in low for n in needles):
                    value = plan.whole(index).sub(MASK, value)
                    low = fold(value)
        if plan.parts is None:
            return value
        found = plan.parts.find(value)
        if not found:
            return value
        # A part of a long secret is here: its whole forms first (escaped, or base64 with
        # its last character), near each part found; then every part left.
        for index in sorted({i for _, _, i in found}):
            value = _near(value, [f for f in found if f[2] == index], plan.whole(index), plan.values[index])
        found = plan.parts.find(value)
        return mask(value, found, MASK) if found else value

    def data(self, value: Any, trim: bool = False) -> Any:
        if isinstance(value, str):
            out = self.text(value)
            if trim and len(out) > MAX_TEXT:
                out = out[:MAX_TEXT] + f"... [{len(out) - MAX_TEXT} more characters]"
            return out
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v, trim) for k, v in value.items()}
        if isinstance(value, list | tuple):
            items = [self.data(v, trim) for v in value]
            if trim and len(items) > MAX_ITEMS:
                items = [*items[:MAX_ITEMS], f"... [{len(items) - MAX_ITEMS} more items]"]
            return items
        return value


@dataclass
class _Plan:
    """How to mask one set of secrets (built once per set, see _plan)."""

    values: tuple[str, ...]  # longest first
    always: re.Pattern[str] | None  # run on every text
    gated: list[tuple[tuple[str, ...], int]]  # run where one of these (folded) texts is
    parts: Parts | None  # the parts of secrets of PART characters or more
    _whole: dict[int, re.Pattern[str]] = field(default_factory=dict)

    def whole(self, index: int) -> re.Pattern[str]:
        """The pattern of every form of one secret, compiled the first time it is needed."""
        if index not in self._whole:
            self._whole[index] = _compile((self.values[index],))
        return self._whole[index]


@functools.lru_cache(maxsize=64)
def _plan(values: tuple[str, ...]) -> _Plan:
    """Which secrets are matched whole in every text, which only where a telling piece of
    them is, and which only where one of their parts is (see the module's docstring)."""
    always: list[str] = []
    gated: list[tuple[tuple[str, ...], int]] = []
    for index, value in enumerate(values):
        runs = [_longest_run(form) for form in _with_escapes_interpreted((value,))]
        if len(value) >= PART and all(len(r) >= PART for r in runs):
            continue  # its parts lead to it
        if any(len(r) < GATE for r in runs):
            always.append(value)
            continue
        needles = set(runs)
        if len(value) < PART:  # a long secret's base64 form is found by its parts
            needles |= {fold(core) for core, _ in _base64_cores(value)}
        gated.append((tuple(sorted(needles)), index))
    long = [(i, v) for i, v in enumerate(values) if len(v) >= PART]
    return _Plan(values, _compile(tuple(always)) if always else None, gated, Parts(long) if long else None)


# A run of letters and digits this long tells a text that may hold the secret: escaping
# never changes letters or digits, only their case.
GATE = 4
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")


def _longest_run(text: str) -> str:
    return fold(max(_ALNUM_RUN.findall(text), key=len, default=""))


def _near(text: str, found: list[tuple[int, int, int]], pattern: re.Pattern[str], secret: str) -> str:
    """`pattern` applied around each part found (an escaped form is at most ~12 characters
    per character of the secret), not to the whole text: a 64 KB output costs no more
    than a short one."""
    reach = 12 * len(secret) + 16
    spans: list[list[int]] = []
    for start, end, _ in sorted(found):
        lo, hi = max(0, start - reach), min(len(text), end + reach)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = hi
        else:
            spans.append([lo, hi])
    out: list[str] = []
    last = 0
    for lo, hi in spans:
        out += [text[last:lo], pattern.sub(MASK, text[lo:hi])]
        last = hi
    out.append(text[last:])
    return "".join(out)


@functools.lru_cache(maxsize=64)
def _compile(values: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for every form of every secret; at one position the longest form wins."""
    alternatives: dict[str, int] = {}  # pattern -> length of the text it stands for
    starts: set[str] = set()  # every character a match can begin with
    for secret in _with_escapes_interpreted(values):
        if len(secret) <= FLEXIBLE_MAX:
            head, head_starts = _char(secret[0], first=True)
            pattern = head + "".join(_char(c)[0] for c in secret[1:])
            alternatives.setdefault(f"(?i:{pattern})", len(secret))
            starts |= head_starts
        else:
            for form in _exact_forms(secret):
                alternatives.setdefault(re.escape(form), len(form))
                starts.add(form[0])
        for form in (secret.upper(), secret.lower()):
            if len(form) != len(secret):  # `ß`.upper() is `SS`: no case-insensitive match finds it
                alternatives.setdefault(re.escape(form), len(form))
                starts.add(form[0])
        for pattern, first in _base64_forms(secret):
            alternatives.setdefault(pattern, len(secret))
            starts.add(first)
    ordered = sorted(alternatives, key=lambda p: -alternatives[p])
    # The look-ahead lets the regex engine skip quickly to where a match can start:
    # about twice as fast on text without secrets, which is nearly all text.
    first_chars = "".join(sorted(re.escape(c) for c in starts))
    return re.compile(f"(?=(?i:[{first_chars}]))(?:{'|'.join(ordered)})")


_ECHO_ESCAPE = re.compile(r"\\(0?[0-7]{1,3}|[\\abfnrtv])")
_ECHO_LETTERS = {"\\": "\\", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _with_escapes_interpreted(values: tuple[str, ...]) -> list[str]:
    """Each secret, and for one with backslashes also the text a shell's `echo` (dash) or
    `printf %b` makes of it: `Tr0ub4dor\\3xyz` is printed with the byte 0x03 for `\\3`."""
    out: list[str] = []
    for secret in values:
        out.append(secret)
        interpreted = _ECHO_ESCAPE.sub(_echo_char, secret)
        if interpreted and interpreted != secret:
            out.append(interpreted)
    return out


def _echo_char(match: re.Match[str]) -> str:
    code = match.group(1)
    return _ECHO_LETTERS.get(code) or chr(int(code, 8) & 0xFF)


def _char(c: str, first: bool = False) -> tuple[str, set[str]]:
    """A regex for one character of a secret as any escaping layer may have written it,
    and the characters such a form starts with.

    Escaping backslashes are allowed before every character but the first: a match that
    starts on the character or one of its escapes is what makes the look-ahead fast.
    """
    plain = [re.escape(c)]  # itself, after any number of escaping backslashes
    after_backslash: list[str] = []  # forms that need at least one backslash: \n, \x01, \u00e9
    code = ord(c)
    if c != "\\":
        shown = repr(c)[1:-1]
        if shown.startswith("\\"):
            after_backslash.append(re.escape(shown[1:]))
    if c in _JSON_SHORT:
        after_backslash.append(_JSON_SHORT[c])
    if code < 0x20 or code > 0x7E:
        if code > 0xFFFF:  # JSON writes astral characters as a surrogate pair
            hi, lo = divmod(code - 0x10000, 0x400)
            after_backslash.append(f"u{0xD800 + hi:04x}\\\\+u{0xDC00 + lo:04x}")
        else:
            after_backslash.append(f"u{code:04x}")
        if code <= 0xFF:
            after_backslash.append(f"x{code:02x}")
    starts = {c}
    if not (c.isascii() and c.isalnum()):  # what a URL, HTML or XML writer may escape
        plain.extend(re.escape(e) for e in _ENTITIES.get(c, ()))
        plain.extend((f"&#0*{code};", f"&#x0*{code:x};"))
        plain.append("".join(f"%{b:02x}" for b in c.encode("utf-8")))
        starts |= {"&", "%"}
    if c == " ":
        plain.append(r"\+")  # quote_plus
        starts.add("+")
    out = f"{'' if first else _BACKSLASHES}(?:{'|'.join(plain)})"
    if after_backslash:
        out = f"(?:{out}|\\\\+(?:{'|'.join(after_backslash)}))"
        starts.add("\\")
    return out, starts


def _exact_forms(secret: str) -> set[str]:
    """The common whole-string forms, for secrets too long for the flexible pattern."""
    forms = {secret, secret.upper(), secret.lower(), repr(secret)[1:-1]}
    forms |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms |= {html.escape(secret), quote(secret, safe=""), quote(secret), quote_plus(secret)}
    return forms


def _base64_forms(secret: str) -> list[tuple[str, str]]:
    """Regexes for the secret inside base64 text, standard and URL-safe.

    Inside a longer encoded value (`user:password` in Basic auth) the secret's bytes may
    start at any of three offsets within a 3-byte group; for each, only the characters
    made of the secret's bits alone are certain, and the tail depends on whether the
    secret ends the value.
    """
    forms = []
    for core, tail in _base64_cores(secret):
        # When the secret ends the encoded value, its last character and padding are known too.
        tail_pattern = f"(?:{re.escape(tail)})?" if tail else ""
        forms.append((re.escape(core) + tail_pattern, core[0]))
    return list(dict.fromkeys(forms))


def _base64_cores(secret: str) -> list[tuple[str, str]]:
    """(certain characters, tail) of the secret's base64 forms, standard and URL-safe."""
    raw = secret.encode("utf-8")
    out = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        start = -(-offset * 8 // 6)  # the first character with no bit of the offset bytes
        certain = (offset + len(raw)) * 8 // 6  # characters with only the secret's bits
        core, tail = encoded[start:certain], encoded[certain:]
        if len(core) >= BASE64_MIN:
            out += [(core, tail), (_urlsafe(core), _urlsafe(tail))]
    return out


def _urlsafe(text: str) -> str:
    return text.replace("+", "-").replace("/", "_")
