"""A project's monitoring: drift of a live window against the training reference, score drift
and realised quality (``loop.monitoring.report``); sets the drift gauges on ``/metrics``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from tailorkit.loop.monitoring.window import WindowError, parse_window
from tailorkit.serve.dependencies import CallerDep
from tailorkit.serve.errors import ServiceError
from tailorkit.serve.monitoring_data import project_monitoring
from tailorkit.serve.monitoring_loop import monitoring_gauges
from tailorkit.serve.responses import answer
from tailorkit.serve.schemas import AUTHENTICATED, WITH_PROJECT, error_responses

router = APIRouter(tags=["monitoring"], responses=error_responses(*AUTHENTICATED, *WITH_PROJECT))


@router.get("/v1/projects/{project}/monitoring")
async def monitoring(
    project: str,
    request: Request,
    caller: CallerDep,
    window: Annotated[str, Query(description="30m, 24h, 7d: the newest observed rows")] = "24h",
    outcome: Annotated[
        str | None, Query(max_length=64, description="the feedback outcome that labels rows")
    ] = None,
) -> JSONResponse:
    """Per feature `{feature, psi, test, statistic, p_value, drifted}` of the window against
    the training reference, `dataset_drift`, the score drift (`prediction`) and, once feedback
    labels (value 0 or 1) came, AUC and log loss with intervals (`realised`). A window without
    data answers an empty feature list with its `reason`."""
    try:
        span = parse_window(window, field="query.window")
    except WindowError as error:
        raise ServiceError(422, str(error)) from None
    service = caller.service
    await service.check_project(caller.tenant, project, request)
    report = await service.run_io(
        project_monitoring,
        service.store,
        service.registry,
        caller.tenant.id,
        project,
        span,
        window.strip(),
        outcome,
    )
    monitoring_gauges(service, report)
    return answer(request, report)
