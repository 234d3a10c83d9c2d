"""The atheris harness for the inbound parsers stays runnable: its one-input function
passes over the seeds (and hypothesis bytes) without atheris installed.

The harness is loaded from its file so the test suite never imports atheris or
depends on ``bench`` being a package.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HARNESS = Path(__file__).resolve().parents[1] / "bench" / "fuzz_inbound.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prefcenter_fuzz_inbound", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    return _load()


def test_harness_does_not_import_atheris(harness: ModuleType) -> None:
    assert "atheris" not in sys.modules
    assert callable(harness.test_one_input)


def test_seeds_cover_every_mailbox_kind(harness: ModuleType) -> None:
    seeds = harness.seeds()
    assert len(seeds) >= 8
    joined = b"\n".join(seeds)
    for marker in (b"delivery-status", b"feedback-report", b"Auto-Submitted", b"unsubscribe"):
        assert marker in joined


def test_one_input_over_seeds(harness: ModuleType) -> None:
    for seed in harness.seeds():
        harness.test_one_input(seed)


def test_one_input_over_the_real_bounce_corpus(harness: ModuleType) -> None:
    corpus = harness.bounce_corpus()
    assert len(corpus) >= 300
    for message in corpus:
        harness.test_one_input(message)


def test_one_input_over_mutated_seeds(harness: ModuleType) -> None:
    """Truncations and byte flips of every seed: cheap versions of what atheris tries."""
    for seed in harness.seeds():
        for cut in range(0, len(seed), max(1, len(seed) // 7)):
            harness.test_one_input(seed[:cut])
            flipped = bytearray(seed)
            if flipped:
                flipped[cut % len(flipped)] ^= 0x80
            harness.test_one_input(bytes(flipped))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_one_input_never_raises_on_bytes(data: bytes) -> None:
    _load_cached().test_one_input(data)


_CACHE: dict[str, ModuleType] = {}


def _load_cached() -> ModuleType:
    if "harness" not in _CACHE:
        _CACHE["harness"] = _load()
    return _CACHE["harness"]
