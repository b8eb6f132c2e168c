"""Reading a recommendation project's tables: interactions, catalogue, users."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tailorkit.data.interactions import Interactions, build_interactions
from tailorkit.data.io import read_table
from tailorkit.data.user_segments import read_user_attributes
from tailorkit.solutions.recommendation.spec import RecSpec


def load_data(spec: RecSpec, base_dir: Path) -> Interactions:
    data = spec.data
    events = read_table(data.interactions, base_dir=base_dir, encoding=data.encoding)
    items = (
        read_table(data.items, base_dir=base_dir, encoding=data.encoding) if data.items else None
    )
    return build_interactions(
        events,
        source=Path(data.interactions).name,
        user_col=data.user,
        item_col=data.item,
        time_col=data.time,
        event_col=data.event,
        event_weights=data.event_weights,
        value_col=data.value,
        repeats=data.repeats,
        items=items,
        items_source=Path(data.items).name if data.items else "items",
        item_key=data.item_key or data.item,
        text_columns=data.text,
    )


def load_users(spec: RecSpec, base_dir: Path) -> tuple[pd.DataFrame | None, list[str]]:
    """The optional users table's segment columns (one row per user id) and its warnings."""
    data = spec.data
    if not data.users:
        return None, []
    table = read_table(data.users, base_dir=base_dir, encoding=data.encoding)
    return read_user_attributes(table, Path(data.users).name, data.user, data.user_segments)
