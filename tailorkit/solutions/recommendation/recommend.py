"""A registered recommender ready to answer: histories, ids, rules, the cold-start fallback;
batch recommendations for a file of users."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO

import numpy as np
from safetensors.numpy import load_file

from tailorkit.data.interactions import blocked_items, normalize_ids
from tailorkit.data.io import read_table
from tailorkit.data.user_segments import UserSegments
from tailorkit.errors import DataError, TailorkitError
from tailorkit.evaluate.ranking import top_k
from tailorkit.models import load_model

RECOMMENDER_FILE = "recommender.json"
HISTORY_FILE = "histories.safetensors"


class Recommendations:
    """A registered recommender ready to answer: histories, ids, rules, fallback."""

    def __init__(self, version) -> None:
        folder = Path(version.path)
        state_file = folder / RECOMMENDER_FILE
        if not state_file.exists():
            raise TailorkitError(
                f"{version.project}:{version.version} is not a recommendation model"
            )
        self.version = version
        self.model = load_model(folder)
        self.state = json.loads(state_file.read_text())
        arrays = load_file(str(folder / HISTORY_FILE))
        bounds = np.cumsum(arrays["lengths"])[:-1]
        self.histories = np.split(arrays["items"], bounds)
        self.blocked = arrays["blocked"].astype(bool)
        self.popularity = arrays["popularity"]
        self.segments = None
        if self.state.get("segments"):
            self.segments = UserSegments.from_state(
                self.state["segments"], arrays["segment_popularity"]
            )
        self.user_index = {u: i for i, u in enumerate(self.state["user_ids"])}
        self.item_ids = self.state["item_ids"]
        self.titles = self.state["titles"]

    def refresh_rules(self, items_file: str) -> None:
        """Re-apply the rules to a fresh catalogue (e.g. today's stock levels)."""
        table = read_table(items_file)
        key = self.state["item_key"]
        if key not in table.columns:
            raise DataError(f"{items_file}: item id column '{key}' not found")
        table.index = normalize_ids(table[key])
        aligned = table.reindex(self.item_ids)
        self.blocked = blocked_items(aligned, self.state["rules"], items_file)

    def for_users(
        self,
        users: list[str],
        k: int | None,
        exclude_seen: bool | None,
        attributes: dict[str, dict] | None = None,
    ):
        """One result per user: rows of (rank, item_id, title, score) and how they were made.
        ``attributes`` (user -> {column: value}) places users without history in segments
        the users table did not know them in (a new sign-up's region)."""
        k = int(k or self.state["k"])
        exclude = self.state["exclude_seen"] if exclude_seen is None else exclude_seen
        known = [u for u in users if u in self.user_index]
        results: dict[str, dict] = {}
        if known:
            histories = [self.histories[self.user_index[u]] for u in known]
            items, scores = self.model.recommend(
                histories, k, exclude_seen=exclude, blocked=self.blocked
            )
            for user, row_items, row_scores in zip(known, items, scores, strict=False):
                results[user] = self._result(row_items, row_scores, "personalized", None)
        tops: dict[tuple[str, ...], tuple] = {}  # one ranking per set of segments
        for user in users:
            if user not in results:
                values = self._segment_values(user, (attributes or {}).get(user))
                segments = tuple(self.segments.segments_of(values)) if values else ()
                if segments not in tops:
                    tops[segments] = self._popular(k, values if segments else None)
                why = (
                    "items popular with users of " + ", ".join(segments)
                    if segments
                    else "the most popular items"
                )
                results[user] = self._result(
                    *tops[segments],
                    "segment popularity fallback" if segments else "popularity fallback",
                    f"user '{user}' has no history in this model: recommending {why} "
                    "(cold-start fallback)" + self._unused((attributes or {}).get(user)),
                )
        return [dict(user=u, **results[u]) for u in users], k

    def _segment_values(self, user: str, given: dict | None) -> list[str] | None:
        """A user's segment values: the users table's, overridden by those ``given``."""
        if not self.segments:
            return None
        columns = self.segments.columns
        stored = self.segments.values.get(user, [""] * len(columns))
        given = given or {}
        return [
            s if given.get(c) is None or str(given[c]).strip() == "" else str(given[c]).strip()
            for c, s in zip(columns, stored, strict=True)
        ]

    def _unused(self, given: dict | None) -> str:
        """Why some given attributes were not used (a note), or ""."""
        columns = self.segments.columns if self.segments else []
        unused = sorted(str(name) for name in (given or {}) if name not in columns)
        if not unused:
            return ""
        usable = ", ".join(columns) if columns else "none: this version keeps no user segments"
        return f"; ignored attributes {', '.join(unused)} (user segments: {usable})"

    def _popular(self, k: int, values: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """The top k by popularity among everyone, or in the segments of these values."""
        popularity = self.popularity if values is None else self.segments.scores(values)
        scores = np.where(self.blocked, -np.inf, popularity.astype(np.float64))
        order = top_k(scores[None, :], min(k, len(scores)))[0]
        best = scores[order]
        return np.where(np.isfinite(best), order, -1), best

    def _result(self, items, scores, source: str, note: str | None) -> dict:
        rows = [
            {
                "rank": rank,
                "item_id": self.item_ids[i],
                "title": self.titles[i] if i < len(self.titles) else "",
                "score": float(s),
            }
            for rank, (i, s) in enumerate(zip(items, scores, strict=False), start=1)
            if i >= 0 and np.isfinite(s)
        ]
        return {"source": source, "note": note, "items": rows}


def read_users(source: str, engine: Recommendations) -> tuple[list[str], dict[str, dict]]:
    """The user ids of a batch file and, from its columns that are the model's user
    segments, the attributes of users without history (other columns are ignored)."""
    table = read_table(source)
    column = next(
        (c for c in table.columns if c.lower() in ("user_id", "userid", "user", "customer_id")),
        table.columns[0],
    )
    values = table[column]
    if values.isna().any():
        row = int(np.argmax(values.isna().to_numpy())) + 2
        raise DataError(f"{source} row {row}: column '{column}' is empty")
    users = list(normalize_ids(values))
    segments = [c for c in (engine.segments.columns if engine.segments else []) if c in table]
    if not segments:
        return users, {}
    frame = table[segments].astype("string").fillna("").to_numpy()
    rows = zip(users, frame, strict=True)
    return users, {u: dict(zip(segments, row, strict=True)) for u, row in rows}


def write_rows(handle: IO[str], results: list[dict], header: bool = True) -> int:
    """Recommendations as CSV rows (one per item); returns how many."""
    writer = csv.writer(handle)
    if header:
        writer.writerow(["user_id", "rank", "item_id", "title", "score", "source"])
    rows = 0
    for result in results:
        for item in result["items"]:
            writer.writerow(
                [
                    result["user"],
                    item["rank"],
                    item["item_id"],
                    item["title"],
                    f"{item['score']:.6g}",
                    result["source"],
                ]
            )
            rows += 1
    return rows


def predict_file(version, source: str, handle: IO[str], chunk_rows: int, warn) -> int:
    """Batch recommendations for the users listed in ``source`` (CSV out, one row per item)."""
    engine = Recommendations(version)
    users, given = read_users(source, engine)
    rows = fallback = 0
    for start in range(0, len(users), max(1, chunk_rows)):
        results, _ = engine.for_users(users[start : start + chunk_rows], None, None, given)
        fallback += sum(result["source"] != "personalized" for result in results)
        rows += write_rows(handle, results, header=start == 0)
    if not users:
        write_rows(handle, [])
    if fallback:
        warn(f"{fallback} users have no history in the model: (segment) popularity fallback")
    return rows
