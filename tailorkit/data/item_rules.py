"""Business rules over the item catalogue (``in_stock == false``, ``category in [a, b]``):
parsed from the spec and turned into a mask of items that are never recommended."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tailorkit.errors import DataError, SpecError

_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(==|!=|>=|<=|>|<|\bnot in\b|\bin\b)\s*(.+)$")


@dataclass(frozen=True)
class Rule:
    """``column op value``: items matching it are never recommended (``in_stock == false``)."""

    text: str
    column: str
    op: str
    value: Any


def parse_rule(text: str) -> Rule:
    match = _RULE.match(str(text))
    if not match:
        raise SpecError(
            f"rule '{text}' must look like 'column == value' (==, !=, <, <=, >, >=, in, not in)"
        )
    column, op, raw = match[1].strip(), match[2], match[3].strip()
    value = yaml.safe_load(raw)
    if op in ("in", "not in") and not isinstance(value, list):
        raise SpecError(f"rule '{text}': '{op}' needs a list, e.g. [a, b]")
    return Rule(str(text).strip(), column, op, value)


def blocked_items(table: pd.DataFrame | None, rules: list[str], source: str) -> np.ndarray:
    """Boolean mask over item codes: True = filtered out by at least one rule."""
    if table is None:
        if rules:
            raise SpecError("rules need an item table (data.items)")
        return np.zeros(0, dtype=bool)
    blocked = np.zeros(len(table), dtype=bool)
    for rule in map(parse_rule, rules):
        if rule.column not in table.columns:
            raise DataError(f"{source}: rule '{rule.text}' names unknown column '{rule.column}'")
        blocked |= _matches(table[rule.column], rule)
    return blocked


def _matches(column: pd.Series, rule: Rule) -> np.ndarray:
    value = rule.value
    if isinstance(value, bool) or rule.op in ("in", "not in"):
        text = column.astype(str).str.strip().str.lower()
        wanted = [str(v).lower() for v in (value if isinstance(value, list) else [value])]
        hit = text.isin(wanted).to_numpy()
        if isinstance(value, bool):  # 0/1 columns count as booleans too
            hit = hit | text.isin(["1" if value else "0", "1.0" if value else "0.0"]).to_numpy()
        return ~hit if rule.op in ("!=", "not in") else hit
    if isinstance(value, (int, float)):
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
        ops = {
            "==": np.equal,
            "!=": np.not_equal,
            ">": np.greater,
            ">=": np.greater_equal,
            "<": np.less,
            "<=": np.less_equal,
        }
        with np.errstate(invalid="ignore"):
            return ops[rule.op](numbers, value) & ~np.isnan(numbers)
    text = column.astype(str).str.strip()
    if rule.op == "==":
        return (text == str(value)).to_numpy()
    if rule.op == "!=":
        return (text != str(value)).to_numpy()
    raise SpecError(f"rule '{rule.text}': '{rule.op}' needs a number")
