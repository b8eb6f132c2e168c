"""Answers from models: predict (scoring), recommend, and monitor / rul (maintenance).

Each handler checks the project itself, after FastAPI validated the body (a bad body is a 422
whatever the project) and after naming its endpoint (a 404 counts under that endpoint).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tailorkit.errors import DataError
from tailorkit.serve.adapters import UnsupportedEndpoint
from tailorkit.serve.dependencies import Caller, CallerDep
from tailorkit.serve.errors import ServiceError
from tailorkit.serve.events import Experiment, Tenant
from tailorkit.serve.responses import answer
from tailorkit.serve.runtime import Served
from tailorkit.serve.schemas import (
    AUTHENTICATED,
    WITH_BODY,
    WITH_PROJECT,
    MonitorRequest,
    PredictRequest,
    RecommendRequest,
    error_responses,
)
from tailorkit.serve.service import Service

router = APIRouter(responses=error_responses(*AUTHENTICATED, *WITH_PROJECT, *WITH_BODY))
LOOP_CHECK_ROWS = 100  # rows checked on the event loop; more take a turn on the scoring thread


@router.post("/v1/projects/{project}/predict", tags=["scoring"])
async def predict(
    project: str, body: PredictRequest, request: Request, caller: CallerDep
) -> JSONResponse:
    """Rows in; probability, decision and reason codes out (credit, fraud, diagnosis)."""
    service, tenant = caller.service, caller.tenant
    request.state.labels["endpoint"] = "predict"
    await service.check_project(tenant, project, request)
    if len(body.rows) > service.settings.max_rows:
        raise ServiceError(
            413,
            f"{len(body.rows)} rows in one request; the limit is {service.settings.max_rows}"
            " (split the rows over several requests)",
        )
    alias, experiment, shadow_alias = await service.route(project, body.alias, body.unit_id)
    routed = (request, tenant, project, "predict", alias, experiment, body.unit_id)
    with service.arm_failures(*routed, len(body.rows)):  # counted in the arm's error rate
        served = await service.served(project, alias, request)
        try:
            with service.limits.rows(tenant.id, tenant.name, len(body.rows)):
                if len(body.rows) <= LOOP_CHECK_ROWS:
                    warnings = served.adapter.check_rows(body.rows)
                else:  # a large request is checked in its own tenant's turn, off the event loop
                    check = served.adapter.check_rows
                    warnings = await service.pool.scheduler.run(tenant.id, check, body.rows)
                outputs = await served.batcher.predict(body.rows, body.reasons, tenant.id)
        except UnsupportedEndpoint as error:
            raise ServiceError(404, str(error)) from None
        except DataError as error:
            raise ServiceError(422, str(error)) from None
    logged = (request, tenant, project, "predict", alias, served, experiment, body.unit_id)
    if shadow_alias is not None:

        def score(challenger: Served) -> Awaitable[list[dict[str, Any]]]:
            return challenger.batcher.predict(body.rows, body.reasons, tenant.id)

        _log_with_shadow(service, logged, outputs, shadow_alias, score, body.rows)
    else:
        protected = served.adapter.protected_values(body.rows) if experiment else None
        service.log_request(*logged, outputs, protected=protected, inputs=body.rows)
    response = {
        "request_id": request.state.request_id,
        "model_version": served.version.version,
        "project": project,
        "alias": alias,
        "predictions": outputs,
        "warnings": warnings,
    }
    if experiment is not None:
        response["experiment"] = {"id": experiment.id, "arm": alias, "mode": experiment.mode}
    return answer(request, response)


def _log_with_shadow(
    service: Service,
    logged: tuple[Request, Tenant, str, str, str, Served, Experiment | None, Any],
    outputs: list[dict[str, Any]],
    shadow_alias: str,
    score: Callable[[Served], Awaitable[list[dict[str, Any]]]],
    inputs: list[dict[str, Any]] | None = None,
) -> None:
    """Log the request (with its ``inputs`` rows to observe) once the shadow alias has scored
    it too (in the background); its owner is known at once, so its feedback is accepted
    before the record is written."""
    request, tenant, project, _endpoint, _alias, served = logged[:6]
    service.remember(request, tenant, project, served)
    service.spawn(_score_shadow(service, logged, outputs, shadow_alias, score, inputs))


async def _score_shadow(
    service: Service,
    logged: tuple[Request, Tenant, str, str, str, Served, Experiment | None, Any],
    outputs: list[dict[str, Any]],
    shadow_alias: str,
    score: Callable[[Served], Awaitable[list[dict[str, Any]]]],
    inputs: list[dict[str, Any]] | None,
) -> None:
    """Score the same request with the shadow alias (``score``) after answering; log both
    outputs, return nothing to the caller."""
    shadow: dict[str, Any]
    project = logged[2]
    try:
        challenger = await service.pool.get(project, shadow_alias)
        shadow = {
            "alias": shadow_alias,
            "model_version": challenger.version.version,
            "predictions": await score(challenger),
        }
    except Exception as error:  # the shadow must never hurt the live answer
        shadow = {"alias": shadow_alias, "error": f"{type(error).__name__}: {error}"}
    service.log_request(*logged, outputs, shadow, inputs=inputs)


@router.post("/v1/projects/{project}/recommend", tags=["recommendation"])
async def recommend(
    project: str, body: RecommendRequest, request: Request, caller: CallerDep
) -> JSONResponse:
    """A user in, top-K items out (recommendation projects)."""
    return await _answer(caller, "recommend", project, body, request)


@router.post("/v1/projects/{project}/monitor", tags=["maintenance"])
async def monitor(
    project: str, body: MonitorRequest, request: Request, caller: CallerDep
) -> JSONResponse:
    """New sensor readings in; remaining useful life, alerts out (maintenance projects)."""
    return await _answer(caller, "monitor", project, body, request)


@router.post("/v1/projects/{project}/rul", tags=["maintenance"])
async def rul(
    project: str, body: MonitorRequest, request: Request, caller: CallerDep
) -> JSONResponse:
    """Same as ``monitor``: remaining useful life of an asset from its readings."""
    return await _answer(caller, "monitor", project, body, request)


async def _answer(
    caller: Caller,
    kind: str,
    project: str,
    body: RecommendRequest | MonitorRequest,
    request: Request,
) -> JSONResponse:
    """One recommend or monitor answer: route, load, call the adapter, log."""
    service, tenant = caller.service, caller.tenant
    request.state.labels["endpoint"] = kind
    await service.check_project(tenant, project, request)
    alias, experiment, shadow_alias = await service.route(project, body.alias, body.unit_id)
    payload = body.model_dump(exclude={"alias", "unit_id"})
    with service.arm_failures(request, tenant, project, kind, alias, experiment, body.unit_id, 1):
        served = await service.served(project, alias, request)
        try:
            if kind == "recommend":  # concurrent users share one model call
                if "recommend" not in served.adapter.kinds:
                    raise served.adapter.unsupported("recommend")
                with service.limits.rows(tenant.id, tenant.name, 1):
                    result = (await served.batcher.predict([payload], 0, tenant.id))[0]
            else:
                with service.limits.rows(tenant.id, tenant.name, len(body.readings)):
                    result = await service.pool.scheduler.run(
                        tenant.id, served.adapter.monitor, payload
                    )
        except UnsupportedEndpoint as error:
            raise ServiceError(404, str(error)) from None
        except DataError as error:
            raise ServiceError(422, str(error)) from None
    logged = (request, tenant, project, kind, alias, served, experiment, body.unit_id)
    if shadow_alias is not None and kind == "recommend":

        def score(challenger: Served) -> Awaitable[list[dict[str, Any]]]:
            return challenger.batcher.predict([payload], 0, tenant.id)

        _log_with_shadow(service, logged, [result], shadow_alias, score)
    else:
        service.log_request(*logged, [result])
    return answer(
        request,
        {
            "request_id": request.state.request_id,
            "model_version": served.version.version,
            "project": project,
            "alias": alias,
            **result,
        },
    )
