"""Property-based fuzzing of the loader (Hypothesis, bounded to a few hundred documents).

Whatever a runbook file holds, loading it either gives a library or the project's own
LoadError whose every line is `file:line: message`; never another exception, and never
longer than a watchdog allows (the reader's limits make that possible).
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook_engine.errors import UserError
from runbook_engine.format.loader import load_library
from runbook_engine.registry import Registry, build_registry
from tests.format.fuzzing import bad_lines, k2_mutation, random_document, random_text

# Generous per document (a normal one takes milliseconds); an alias bomb took minutes.
WATCHDOG_S = 10
FUZZ = settings(
    max_examples=100,
    deadline=None,  # timing is the watchdog's job: a loaded machine must not fail a correct loader
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Hung(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hung(f"loading took more than {WATCHDOG_S}s")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fuzz") / "runbooks"
    root.mkdir()
    old = signal.signal(signal.SIGALRM, _alarm)
    yield root
    signal.signal(signal.SIGALRM, old)


def check(root: Path, registry: Registry, data: bytes) -> None:
    """Load `data` as the only file of a library: a library, or a LoadError of `file:line:` lines."""
    path = root / "doc.yaml"
    path.write_bytes(data)
    signal.alarm(WATCHDOG_S)
    try:
        load_library(root, registry=registry)
    except UserError as exc:
        assert bad_lines(exc, str(path)) == [], str(exc)
    finally:
        signal.alarm(0)


@FUZZ
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text(text: str, folder: Path, registry: Registry) -> None:
    """Random Unicode text loads or fails with `file:line:` lines only."""
    check(folder, registry, text.encode("utf-8"))


@settings(FUZZ, max_examples=60)
@given(data=st.binary(max_size=300))
def test_any_bytes(data: bytes, folder: Path, registry: Registry) -> None:
    """Random bytes (binary, UTF-16, NUL, bad UTF-8) fail with one `file:line:` line each."""
    check(folder, registry, data)


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_yaml_ish_text(rng: random.Random, folder: Path, registry: Registry) -> None:
    """Text made of YAML's special characters and the format's keys loads or fails with lines."""
    check(folder, registry, random_text(rng).encode("utf-8"))


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_random_structures(rng: random.Random, folder: Path, registry: Registry) -> None:
    """Runbook-shaped structures with random parts, dumped to YAML, load or fail with lines."""
    check(folder, registry, random_document(rng).encode("utf-8"))


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["kind", "name", "sections", "vars", "gate", "rto"]), _VALUES))
def test_hypothesis_structures(doc: dict[str, object], folder: Path, registry: Registry) -> None:
    """Arbitrary nested values under the format's top-level keys load or fail with lines."""
    check(folder, registry, yaml.safe_dump(doc, allow_unicode=True).encode("utf-8"))


@settings(FUZZ, max_examples=120)
@given(rng=st.randoms(use_true_random=False))
def test_mutated_k2_runbooks(rng: random.Random, folder: Path, registry: Registry) -> None:
    """The real K2 runbooks with random edits load or fail with `file:line:` lines only."""
    check(folder, registry, k2_mutation(rng).encode("utf-8"))
