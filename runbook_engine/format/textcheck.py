"""Bytes -> text for the YAML reader, refusing what is not UTF-8 YAML text with a line.

Python's decoder and libyaml name a byte offset ("position 73") and libyaml's message
runs over two lines; a person needs the line and column of the first bad byte, and what
to do about it, on one line.
"""

from __future__ import annotations

import re

from runbook_engine.errors import LoadError, Problem

# Files larger than this are refused before they are read: a runbook file of 20,000 steps
# is about 3 MB. Documented in docs/format.md ("Limits").
MAX_FILE_BYTES = 16 * 2**20

# Everything YAML does not allow in a stream (YAML 1.1 "printable", as libyaml checks it).
BAD_CHAR = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def decode(data: bytes, shown: str) -> str:
    """The file's text; LoadError at the line of the first byte that is not UTF-8 YAML text."""
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise LoadError(
                [
                    Problem(
                        shown,
                        1,
                        "",
                        f"the file is {name} text (it starts with a {name} byte-order mark); "
                        "runbook files are UTF-8: save it as UTF-8",
                    )
                ]
            )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        bad = BAD_CHAR.search(good)
        if bad:  # a NUL or control character comes before the undecodable byte
            raise LoadError([bad_char(good, bad.start(), shown)]) from None
        line, column = _where(good, len(good))
        binary = " (it looks like a binary file)" if _looks_binary(data) else ""
        raise LoadError(
            [
                Problem(
                    shown,
                    line,
                    "",
                    f"byte 0x{data[exc.start]:02x} at column {column} is not UTF-8{binary}; "
                    "runbook files are UTF-8 text: save it as UTF-8",
                )
            ]
        ) from None


def bad_char(text: str, index: int, shown: str) -> Problem:
    """The problem for a character YAML does not allow, at text[index]."""
    line, column = _where(text, index)
    char = text[index]
    code = f"U+{ord(char):04X}"
    if char == "\0":
        what = (
            f"a NUL byte (U+0000) at column {column}: this is not a text file "
            "(or it is UTF-16 without a byte-order mark); runbook files are UTF-8 text"
        )
    else:
        what = (
            f"the control character {code} at column {column} is not allowed in YAML: "
            'remove it, or write it as an escape inside double quotes (e.g. "\\x1b")'
        )
    return Problem(shown, line, "", what)


def _where(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of text[index]."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def _looks_binary(data: bytes) -> bool:
    head = data[:1024]
    if b"\0" in head:
        return True
    text = head.decode("utf-8", errors="replace")
    return text.count("\ufffd") * 10 > len(text)
