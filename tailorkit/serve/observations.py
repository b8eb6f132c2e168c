"""Observation on the serving path: a sample of the request inputs kept beside the outputs, for
drift monitoring and retraining (``serve_observations``).

What is kept: for a project whose model takes rows (``ServingAdapter.input_columns``), each
sampled row's model input columns, minus the spec's protected columns (``features.protected``:
never written), with its personal columns (``features.personal``) as an HMAC-SHA256 under the
workspace secret (purpose ``observed-input``). Fields a model does not take (the key, free
extras) are not kept. Which requests: each with probability ``observe_rate`` (per project),
until ``observe_cap_per_hour`` rows of that project were kept in the current clock hour.

The request path only decides (``Sampler.admit``, no I/O); the filtering and hashing run on the
request-log writer's thread (``observation_rows``), before anything reaches the database.
Retention: ``tailorkit serve --request-log-days`` (``request_retention``) deletes them after the
same days, except rows of requests that feedback references (labelled rows, for retraining).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from tailorkit.errors import TailorkitError
from tailorkit.registry import Registry
from tailorkit.serve.event_tables import ObservationRow, ServedRequestRow
from tailorkit.serve.records import unit_hash

OBSERVED_INPUT_PURPOSE = "observed-input"  # the workspace-secret key hashing personal columns
HASH_PREFIX = "hmac:"


@dataclass(frozen=True)
class ObservationPolicy:
    """The columns of a version's inputs that are stored as sent, and those stored hashed."""

    kept: tuple[str, ...]
    hashed: tuple[str, ...]
    dropped: tuple[str, ...]  # the protected ones, never written

    def filtered(self, row: dict[str, Any], key: bytes) -> dict[str, Any]:
        kept = {column: row.get(column) for column in self.kept}
        for column in self.hashed:
            value = row.get(column)
            kept[column] = None if value is None else HASH_PREFIX + unit_hash(str(value), key)
        return kept


def policy_for(adapter: Any, registry: Registry) -> ObservationPolicy | None:
    """The policy of a loaded adapter; None for a model without input rows. An artifact saved
    before ``decision.json`` named its privacy columns takes them from its run's spec; when
    that cannot be read either, nothing of it is observed."""
    columns = tuple(getattr(adapter, "input_columns", ()) or ())
    privacy = getattr(adapter, "privacy", None)
    if columns and privacy is None:
        privacy = _privacy_of_run(adapter.version, registry)
    if not columns or privacy is None:
        return None
    protected = set(privacy.get("protected") or ())
    personal = [c for c in privacy.get("personal") or () if c not in protected]
    return ObservationPolicy(
        kept=tuple(c for c in columns if c not in protected and c not in personal),
        hashed=tuple(personal),
        dropped=tuple(sorted(protected)),
    )


def _privacy_of_run(version: Any, registry: Registry) -> dict[str, Any] | None:
    """The run spec's privacy columns; ``{}`` for a version registered without a run (nothing
    to protect was declared), None when the registry cannot say."""
    if version.run_id is None:
        return {}
    try:
        runs = registry.runs(version.project)
    except TailorkitError:
        return None
    for run in runs:
        if run.get("id") == version.run_id:
            features = (run.get("spec") or {}).get("features") or {}
            return {"protected": features.get("protected"), "personal": features.get("personal")}
    return None


class Sampler:
    """Which requests' rows are observed: ``rate`` per project (``rates`` overrides it), at
    most ``cap_per_hour`` rows per project and clock hour (0: no cap)."""

    def __init__(self, rate: float, rates: dict[str, float], cap_per_hour: int) -> None:
        self.rate, self.rates, self.cap = rate, dict(rates), cap_per_hour
        self._counts: dict[str, tuple[int, int]] = {}  # project -> (hour, rows kept)
        self._random = random.Random()
        self._lock = threading.Lock()

    def admit(self, project: str, n_rows: int) -> int:
        """How many of the request's first rows to keep (0: none)."""
        rate = self.rates.get(project, self.rate)
        if rate <= 0 or n_rows <= 0 or (rate < 1 and self._random.random() >= rate):
            return 0
        hour = int(time.time() // 3600)
        with self._lock:
            seen_hour, kept = self._counts.get(project, (hour, 0))
            kept = kept if seen_hour == hour else 0
            allowed = n_rows if self.cap <= 0 else max(0, min(n_rows, self.cap - kept))
            self._counts[project] = (hour, kept + allowed)
        return allowed


def observation_rows(records: list[dict[str, Any]], key: bytes) -> list[dict[str, Any]]:
    """The ``serve_observations`` rows of a group of request records (their ``observed``
    entry, ``(policy, rows)``, is removed from each record: it is no column of its own)."""
    found = []
    for record in records:
        observed = record.pop("observed", None)
        if observed is None:
            continue
        policy, rows = observed
        for index, row in enumerate(rows):
            found.append(
                {
                    "request_id": record["request_id"],
                    "tenant_id": record["tenant_id"],
                    "project": record["project"],
                    "model_version": record["model_version"],
                    "row": index,
                    "inputs_json": json.dumps(policy.filtered(row, key), default=str),
                    "at": record["at"],
                }
            )
    return found


def observed_window(
    session: Any, project: str, since: datetime, limit: int, tenant_id: int
) -> list[tuple[dict[str, Any], int | None, dict[str, Any] | None]]:
    """(inputs, model version, that row's output) of the project's newest observed rows since
    ``since`` (at most ``limit``) answered to ``tenant_id``, the output from the request log
    when it is still there (each request's outputs read and parsed once)."""
    query = (
        select(
            ObservationRow.request_id,
            ObservationRow.inputs_json,
            ObservationRow.model_version,
            ObservationRow.row,
        )
        .where(
            ObservationRow.tenant_id == tenant_id,
            ObservationRow.project == project,
            ObservationRow.at >= since,
        )
        .order_by(ObservationRow.at.desc(), ObservationRow.id.desc())
        .limit(limit)
    )
    observed = session.execute(query).all()
    outputs = _outputs_of(session, sorted({row.request_id for row in observed}))
    found = []
    for request_id, inputs, version, row in observed:
        answered = outputs.get(request_id, [])
        found.append((json.loads(inputs), version, answered[row] if row < len(answered) else None))
    return found


def _outputs_of(session: Any, request_ids: list[str], chunk: int = 500) -> dict[str, list]:
    """The parsed outputs of each logged request among ``request_ids``."""
    outputs: dict[str, list] = {}
    for start in range(0, len(request_ids), chunk):
        wanted = request_ids[start : start + chunk]
        query = select(ServedRequestRow.request_id, ServedRequestRow.outputs_json).where(
            ServedRequestRow.request_id.in_(wanted)
        )
        outputs.update((rid, json.loads(text)) for rid, text in session.execute(query))
    return outputs
