"""Operations: liveness, readiness and Prometheus metrics.

``/healthz`` and the bare ``/readyz`` (``{"ready": ...}``) are public: probes send no key.
What names tenants and projects (the routes and failures behind readiness, the metrics'
labels) needs an operator key (``tailorkit operators create``); a tenant's key opens none of
it, so another tenant's project stays as invisible here as on the ``/v1`` routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tailorkit.serve.dependencies import MaybeOperatorDep, OperatorDep, ServiceDep
from tailorkit.serve.responses import answer
from tailorkit.serve.schemas import error_responses
from tailorkit.serve.service import Service

router = APIRouter(tags=["operations"])

# The key is optional on /readyz: OpenAPI's empty requirement says "or none".
OPTIONAL_KEY = {"security": [{}]}


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers."""
    return answer(request, {"status": "ok"})


@router.get(
    "/readyz",
    openapi_extra=OPTIONAL_KEY,
    responses={503: {"description": "Not ready (same body; operator details say why)."}},
)
async def readyz(request: Request, service: ServiceDep, operator: MaybeOperatorDep) -> JSONResponse:
    """Readiness: startup loading done, database reachable, every route has a model (503
    otherwise). ``{"ready": ...}`` only; with an operator key also the problems, the degraded
    routes and the version each route serves."""
    details = await readiness(service)
    status = 200 if details["ready"] else 503
    return answer(request, details if operator else {"ready": details["ready"]}, status=status)


async def readiness(service: Service) -> dict[str, Any]:
    """``ready``, ``problems`` (why not), ``degraded`` (a newer version failed, the previous
    one still answers) and ``routes`` (``project@alias``: version)."""
    problems = []
    if not service.started:
        problems.append("loading models")
    try:
        await service.run_io(service.store.ping)
    except Exception as error:
        problems.append(f"database unreachable: {type(error).__name__}")
    pool = service.pool
    broken: dict[str, str] = {}
    degraded: dict[str, str] = {}
    for (project, alias), message in pool.failures.items():
        loaded = (project, alias) in pool.routes
        (degraded if loaded else broken)[f"{project}@{alias}"] = message
    problems += list(broken.values())
    return {
        "ready": not problems,
        "problems": problems,
        "degraded": degraded,
        "routes": {f"{p}@{a}": s.version.version for (p, a), s in pool.routes.items()},
    }


# 503: the operator key is checked against the database, which may be unreachable.
@router.get("/metrics", response_class=PlainTextResponse, responses=error_responses(401, 403, 503))
async def metrics(service: ServiceDep, _operator: OperatorDep) -> Response:
    """Prometheus metrics: requests, errors and latency by tenant/project/model version
    (operator key: ``authorization: {credentials_file: ...}`` in the scrape config)."""
    return Response(generate_latest(service.metrics), media_type=CONTENT_TYPE_LATEST)
