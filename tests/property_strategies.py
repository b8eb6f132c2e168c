"""Hypothesis strategies and settings shared by the property tests: JSON-ish values with the
inputs that broke the service before (integers beyond float range, NaN and infinity, lone
UTF-16 surrogates, 64-bit bounds, very long strings, deep nesting)."""

from __future__ import annotations

import sys
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

LONE_SURROGATE = "\ud800"
EDGE_INTS = (
    10**400,
    -(10**400),
    int(sys.float_info.max) + 1,
    2**63,
    2**63 - 1,
    -(2**63),
    -(2**63) - 1,
    2**64,
    0,
    -1,
)
EDGE_FLOATS = (float("inf"), float("-inf"), float("nan"), -0.0, sys.float_info.max, 5e-324)
EDGE_STRINGS = (
    LONE_SURROGATE,
    "a\udfff",
    "\udc80\ud800",
    "x" * 100_000,
    "",
    " ",
    "\x00",
    "NaN",
    "[/x] [bold]",
    "caf\u00e9",
    "\U0001f4a5",
    "\u202e",
)


def bounded(max_examples: int) -> settings:
    """Reproducible, CI-sized settings: no deadline, a fixed seed, no example database."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
    )


def short_texts(max_size: int = 12) -> st.SearchStrategy[str]:
    """Short strings of any code points, lone surrogates included."""
    return st.text(st.characters() | st.characters(categories=["Cs"]), max_size=max_size)


def texts(long: bool = True) -> st.SearchStrategy[str]:
    """Short strings and the edge strings above (with ``long``, a 100,000-character one)."""
    edges = EDGE_STRINGS if long else tuple(s for s in EDGE_STRINGS if len(s) < 100)
    return st.sampled_from(edges) | short_texts()


def integers() -> st.SearchStrategy[int]:
    return st.sampled_from(EDGE_INTS) | st.integers()


def floats() -> st.SearchStrategy[float]:
    return st.sampled_from(EDGE_FLOATS) | st.floats()


def scalars(long: bool = True) -> st.SearchStrategy[Any]:
    """A JSON scalar (with Python's extras: NaN, infinity, surrogates, huge integers)."""
    return st.none() | st.booleans() | integers() | floats() | texts(long)


def nested(depth: int) -> list | dict:
    """A list (even depth) or object (odd depth) nested ``depth`` levels deep."""
    value: list | dict = []
    for level in range(depth):
        value = [value] if level % 2 == 0 else {"a": value}
    return value


def json_values(max_leaves: int = 8, long: bool = True) -> st.SearchStrategy[Any]:
    """Any JSON-ish value: scalars, small lists and objects, and deeply nested ones."""
    keys = texts(long)
    containers = st.recursive(
        scalars(long),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=max_leaves,
    )
    return containers | st.sampled_from((10, 200)).map(nested)
