"""The service's monitoring loop: every ``monitor_every_s`` seconds, the last
``monitor_window`` of each granted project is checked against its training reference
(``serve.monitoring_data``): the drift gauges are set and the spec's alert rules raise their
alerts (``Service.raise_alerts``), so drift is noticed without anyone asking for it."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from tailorkit.errors import DatabaseUnavailable, TailorkitError
from tailorkit.serve.monitoring_data import project_monitoring

log = logging.getLogger("tailorkit.serve")


async def monitor_forever(service, every_s: float, window: timedelta, window_text: str) -> None:
    """Check every project each ``every_s`` seconds, the first time one period after start."""
    while True:
        await asyncio.sleep(every_s)
        try:
            owners = await service.run_io(service.store.project_owners)
        except DatabaseUnavailable as error:
            log.error("monitoring skipped: %s", error)
            continue
        for project, tenant_id in owners.items():
            await monitor_once(service, project, tenant_id, window, window_text)


async def monitor_once(
    service, project: str, tenant_id: int, window: timedelta, window_text: str
) -> dict | None:
    """One project's monitoring window: gauges set, alerts raised; None when it cannot be
    read (a project without a model, the database down: logged, the loop goes on)."""
    try:
        report = await service.run_io(
            project_monitoring,
            service.store,
            service.registry,
            tenant_id,
            project,
            window,
            window_text,
        )
    except (TailorkitError, DatabaseUnavailable) as error:
        log.warning("%s not monitored: %s", project, error)
        return None
    monitoring_gauges(service, report)
    if report.get("rows"):
        await service.raise_alerts(report)
    return report


def monitoring_gauges(service, report: dict) -> None:
    """The drift gauges of one monitoring report (the loop's, or ``GET .../monitoring``)."""
    project = report["project"]
    for row in report["features"]:
        if row["psi"] is not None:
            service.feature_drift.labels(project, row["feature"]).set(row["psi"])
    if report["prediction"].get("psi") is not None:
        service.prediction_psi.labels(project).set(report["prediction"]["psi"])
    if report["realised"].get("auc") is not None:
        service.realised_auc.labels(project).set(report["realised"]["auc"])
