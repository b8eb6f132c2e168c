"""What the monitoring route reads: a window's observed rows and scores, its labelled requests
(feedback with value 0 or 1 joined to the score the request's row got), and the training
reference of the version that answered most of them (``loop.monitoring.report``)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from tailorkit.errors import RegistryError
from tailorkit.loop.monitoring.report import Window, monitoring_report, realised_metrics
from tailorkit.registry import Registry
from tailorkit.serve.event_tables import FeedbackRow, ServedRequestRow
from tailorkit.serve.events import EventStore
from tailorkit.serve.observations import observed_window
from tailorkit.solutions.reference_sample import load_reference

MAX_WINDOW_ROWS = 20_000  # the newest observed rows of a window that are compared
MAX_LABELLED = 50_000
SCORE_FIELD = "probability"


def project_monitoring(
    store: EventStore,
    registry: Registry,
    tenant_id: int,
    project: str,
    window: timedelta,
    window_text: str,
    outcome: str | None = None,
) -> dict[str, Any]:
    """The monitoring JSON of ``project``'s last ``window`` (``outcome``: only that feedback
    outcome labels rows; default any outcome whose value is 0 or 1)."""
    since = datetime.now(timezone.utc) - window
    found = Window()
    versions: Counter = Counter()
    with store.read() as session:
        for inputs, version, output in observed_window(
            session, project, since, MAX_WINDOW_ROWS, tenant_id
        ):
            found.rows.append(inputs)
            versions[version] += 1
            score = (output or {}).get(SCORE_FIELD)
            if isinstance(score, (int, float)):
                found.scores.append(float(score))
        for label, score in _labelled(session, tenant_id, project, since, outcome):
            found.labels.append(label)
            found.labelled_scores.append(score)
    version = _version(registry, project, versions)
    reference = load_reference(version.path) if version is not None else None
    report = monitoring_report(
        reference,
        found,
        project=project,
        model_version=version.version if version is not None else None,
        window_text=window_text,
    )
    report["realised"]["metrics"] = realised_metrics(
        report["realised"], version.metrics if version is not None else {}
    )
    return report


def _labelled(session: Any, tenant_id: int, project: str, since: datetime, outcome: str | None):
    """(label, score) of each 0/1 feedback on a request of the window that has a score."""
    query = (
        select(FeedbackRow.value, FeedbackRow.row, ServedRequestRow.outputs_json)
        .join(ServedRequestRow, ServedRequestRow.request_id == FeedbackRow.request_id)
        .where(
            ServedRequestRow.tenant_id == tenant_id,
            ServedRequestRow.project == project,
            ServedRequestRow.at >= since,
            FeedbackRow.value.in_((0.0, 1.0)),
        )
        .order_by(FeedbackRow.id.desc())
        .limit(MAX_LABELLED)
    )
    if outcome is not None:
        query = query.where(FeedbackRow.outcome == outcome)
    for value, row, outputs in session.execute(query):
        answered = json.loads(outputs)
        index = row or 0
        score = answered[index].get(SCORE_FIELD) if index < len(answered) else None
        if isinstance(score, (int, float)):
            yield int(value), float(score)


def _version(registry: Registry, project: str, versions: Counter):
    """The version that answered most observed rows; the champion when none was observed."""
    wanted = versions.most_common(1)[0][0] if versions else None
    try:
        if wanted is not None:
            return next(v for v in registry.versions(project) if v.version == wanted)
        return registry.resolve(f"{project}@champion")
    except (RegistryError, StopIteration):
        return None
