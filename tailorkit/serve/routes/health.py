"""Operations: liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tailorkit.serve.dependencies import ServiceDep
from tailorkit.serve.responses import answer

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers."""
    return answer(request, {"status": "ok"})


@router.get(
    "/readyz", responses={503: {"description": "Not ready: `problems` says why (same body)."}}
)
async def readyz(request: Request, service: ServiceDep) -> JSONResponse:
    """Readiness: startup loading done, database reachable, every route has a model."""
    problems = []
    if not service.started:
        problems.append("loading models")
    try:
        await service.run_io(service.store.ping)
    except Exception as error:
        problems.append(f"database unreachable: {type(error).__name__}")
    pool = service.pool
    broken: dict[str, str] = {}
    degraded: dict[str, str] = {}  # a newer version failed; the previous one still answers
    for (project, alias), message in pool.failures.items():
        loaded = (project, alias) in pool.routes
        (degraded if loaded else broken)[f"{project}@{alias}"] = message
    problems += list(broken.values())
    body = {
        "ready": not problems,
        "problems": problems,
        "degraded": degraded,
        "routes": {f"{p}@{a}": s.version.version for (p, a), s in pool.routes.items()},
    }
    return answer(request, body, status=200 if not problems else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics: requests, errors and latency by tenant/project/model version."""
    return Response(generate_latest(service.metrics), media_type=CONTENT_TYPE_LATEST)
