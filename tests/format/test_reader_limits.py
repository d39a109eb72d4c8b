"""The YAML reader's limits and refusals: each a hostile file that hung, crashed or was
silently misread before, now one `file:line: key: message` line and exit code 2."""

from __future__ import annotations

import time
import tracemalloc

from runbook_engine.errors import LoadError
from runbook_engine.format.yamlio import load_yaml_text
from tests.conftest import Project

LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _error(text: str) -> str:
    try:
        load_yaml_text(text, "f.yaml")
    except LoadError as exc:
        return exc.render()
    raise AssertionError("no LoadError")


def test_billion_laughs_is_refused_quickly_in_little_memory() -> None:
    """A 1 KB alias bomb (10^9 values) is refused at the alias that passes the limit, in under
    5 s and 50 MB (it took minutes and gigabytes)."""
    tracemalloc.start()
    started = time.monotonic()
    message = _error(LAUGHS)
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert message == (
        "f.yaml:6: f[0]: aliases (*name) expand to more than 100,000 values in this file (the limit); "
        "nested aliases multiply: write the values out or use fewer levels of aliases"
    )
    assert elapsed < 5
    assert peak < 50 * 2**20


def test_aliases_within_the_limit_are_copies_with_their_lines() -> None:
    """Aliases still work: each use is its own copy, with the anchor's lines."""
    data = load_yaml_text("a: &x {k: [1]}\nb: *x\n", "f.yaml")
    assert data == {"a": {"k": [1]}, "b": {"k": [1]}}
    assert data["b"] is not data["a"] and data["b"]["k"] is not data["a"]["k"]
    assert data["b"].key_lines == {"k": 1}


def test_merge_keys_merge_and_own_keys_win() -> None:
    """`<<: *defaults` merges a mapping; the mapping's own keys win; a quoted "<<" is a key."""
    data = load_yaml_text("d: &d {t: 5s, r: 1}\ns:\n  <<: *d\n  t: 1s\nq: {'<<': 1}\n", "f.yaml")
    assert data["s"] == {"t": "1s", "r": 1}
    assert data["s"].key_lines == {"t": 4, "r": 1}
    assert data["q"] == {"<<": 1}


def test_merging_a_list_is_an_error() -> None:
    """`<<:` of something other than a mapping says what it takes."""
    assert _error("s:\n  <<: [1, 2]\n") == (
        "f.yaml:2: s.<<: `<<:` merges a mapping: write `<<: *name` where &name is a mapping"
    )


def test_self_referencing_alias() -> None:
    """An alias inside its own anchor is a clear error, not a RecursionError (exit 3 before)."""
    assert _error("a: &a [1, *a]\n") == (
        "f.yaml:1: a[1]: *a refers to the value that contains it (&a is not closed yet): "
        "an alias cannot include itself"
    )


def test_unknown_alias() -> None:
    """An alias with no anchor says to define it first."""
    assert _error("a: *nope\n") == "f.yaml:1: a: unknown alias *nope: define &nope before using it"


def test_ten_thousand_nested_lists() -> None:
    """10,000 nested brackets stop at the depth limit with a line (a RecursionError before)."""
    assert _error("[" * 10_000 + "]" * 10_000) == (
        "f.yaml:1: [0][0][0][0][...]: lists and mappings are nested more than 64 levels deep here "
        "(the limit); a runbook needs far fewer: flatten this value"
    )


def test_ten_thousand_nested_mappings() -> None:
    """10,000 nested block mappings stop at line 65 (the 65th level)."""
    text = "".join(" " * i + "a:\n" for i in range(10_000))
    assert _error(text) == (
        "f.yaml:65: a.a.a.a[...]: lists and mappings are nested more than 64 levels deep here "
        "(the limit); a runbook needs far fewer: flatten this value"
    )


def test_python_tag_is_refused_not_dropped() -> None:
    """`!!python/object/apply` was silently dropped; now an error naming the tag."""
    assert _error("kind: runbook\nx: !!python/object/apply:os.system [ls]\n") == (
        "f.yaml:2: x: the tag !!python/object/apply:os.system is not supported: runbooks hold plain "
        "text, numbers, true/false, lists and mappings; remove the tag"
    )


def test_local_tag_is_refused_and_core_tags_work() -> None:
    """Any tag outside the core scalar/list/mapping ones is named; `!!str 5` is the text 5."""
    assert _error("x: !vault abc\n").startswith("f.yaml:1: x: the tag !vault is not supported")
    assert _error("x: !!set {a: null}\n").startswith("f.yaml:1: x: the tag !!set is not supported")
    assert load_yaml_text("x: !!str 5\ny: !!int '7'\n", "f.yaml") == {"x": "5", "y": 7}


def test_bad_core_tag_value() -> None:
    """`!!int abc` crashed with ValueError; now it says the value cannot be read."""
    assert _error("x: !!int abc\n") == "f.yaml:1: x: 'abc' cannot be read as !!int: remove !!int"


def test_number_too_long_for_python() -> None:
    """A 5,000-digit number (past int()'s limit) is an error that says to quote it."""
    assert _error("x: " + "9" * 5000 + "\n") == (
        "f.yaml:1: x: a number of 5,000 digits is too long: quote it to keep it as text"
    )


def test_complex_key() -> None:
    """`? [a, b]` became the string "['a', 'b']"; now an error."""
    assert _error("? [a, b]\n: c\n") == (
        "f.yaml:1: a key is a list here (`? [a, b]` or `[a, b]: x`); keys are plain text: "
        "write the key as a quoted string"
    )


def test_template_in_a_key() -> None:
    """`{{ }}` in a key was kept as written; now an error (templates render in values only)."""
    assert _error("vars:\n  '{{ x }}': 1\n") == (
        "f.yaml:2: vars: '{{ x }}': a key is used as written, templates are rendered in values only; "
        "put the template in the value"
    )


def test_control_character() -> None:
    """An escape character in the text is named with its line and column, on one line."""
    assert _error("a: 1\nb: \x1b[31m\n") == (
        "f.yaml:2: the control character U+001B at column 4 is not allowed in YAML: remove it, "
        'or write it as an escape inside double quotes (e.g. "\\x1b")'
    )


def test_nul_byte_file(project: Project) -> None:
    """A NUL byte is one line with the line of the byte (it named no line and took two)."""
    project.runbooks.joinpath("a.yaml").write_bytes(b"kind: runbook\nname: a\nx: \x00\n")
    result = project.cli("validate")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "runbooks/a.yaml:3: a NUL byte (U+0000) at column 4: this is not a text file (or it is UTF-16 "
        "without a byte-order mark); runbook files are UTF-8 text\n"
    )


def test_non_utf8_file(project: Project) -> None:
    """A Latin-1 byte names its line and column (it named a byte position and no line)."""
    project.runbooks.joinpath("a.yaml").write_bytes(b"kind: runbook\nname: caf\xe9\n")
    result = project.cli("validate")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "runbooks/a.yaml:2: byte 0xe9 at column 10 is not UTF-8; runbook files are UTF-8 text: "
        "save it as UTF-8\n"
    )


def test_binary_file(project: Project) -> None:
    """A binary file (a PNG header) is called one, with the line of its first bad byte."""
    project.runbooks.joinpath("a.yaml").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    result = project.cli("validate")
    assert result.code == 2
    assert result.err == (
        "runbooks/a.yaml:1: byte 0x89 at column 1 is not UTF-8 (it looks like a binary file); "
        "runbook files are UTF-8 text: save it as UTF-8\n"
    )


def test_utf16_file(project: Project) -> None:
    """A UTF-16 file (as Windows editors save) is named as such on line 1."""
    project.runbooks.joinpath("a.yaml").write_bytes("kind: runbook\n".encode("utf-16"))
    result = project.cli("validate")
    assert result.code == 2
    assert result.err == (
        "runbooks/a.yaml:1: the file is UTF-16 text (it starts with a UTF-16 byte-order mark); "
        "runbook files are UTF-8: save it as UTF-8\n"
    )


def test_file_too_large(project: Project) -> None:
    """A file over 16 MB is refused before it is read."""
    project.runbooks.joinpath("a.yaml").write_bytes(b"# padding\n" * (17 * 2**20 // 10))
    result = project.cli("validate")
    assert result.code == 2
    assert result.err == (
        "runbooks/a.yaml:1: the file is 17.0 MB; a runbook file may be at most 16 MB (the limit): "
        "split it into several files\n"
    )


def test_too_many_values() -> None:
    """A file of over a million tiny values (16 MB of `[1,1,1...` took 21 s and 180 MB) stops at
    the value that passes the limit."""
    assert _error("a: [" + "1," * 1_000_000 + "1]\n") == (
        "f.yaml:1: a[999998]: this file holds more than 1,000,000 values (the limit): "
        "split it into several files"
    )
