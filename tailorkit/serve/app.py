"""The HTTP service: FastAPI app with tenants, A/B routing, feedback, health and metrics.

``create_app(ServiceSettings(...))`` builds the app; ``tailorkit serve`` runs it with uvicorn.
Every response (errors included) carries ``request_id`` and ``model_version``; errors are one
JSON object ``{"error": "...", "request_id": ..., "model_version": ...}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tailorkit.errors import DataError, RegistryError, TailorkitError
from tailorkit.registry import Registry
from tailorkit.serve.adapters import UnsupportedEndpoint
from tailorkit.serve.events import EventStore, Experiment, RequestLogWriter, Tenant, unit_hash
from tailorkit.serve.runtime import ModelPool, ModelUnavailable, Served

log = logging.getLogger("tailorkit.serve")
access_log = logging.getLogger("tailorkit.serve.access")

Scalar = float | int | str | bool | None
API_KEY_HEADERS = ("x-api-key", "authorization")
DEFAULT_ALIAS = "champion"
RECENT_REQUESTS = 100_000


@dataclass
class ServiceSettings:
    """How the service runs; ``tailorkit serve`` fills these from its options."""

    workspace: Path = Path(".tailorkit")
    db_url: str | None = None
    max_body_bytes: int = 1_000_000
    max_rows: int = 1000
    poll_interval: float = 2.0
    max_batch_rows: int = 1024
    max_wait_ms: float = 0.0
    preload: bool = True
    log_flush_interval: float = 0.05
    cache_seconds: float = 2.0


class ServiceError(TailorkitError):
    """An HTTP error with a status code and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- request bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PredictRequest(_Body):
    rows: list[dict[str, Scalar]] = Field(min_length=1, description="Raw feature rows.")
    alias: str | None = Field(None, description="Force an alias; bypasses any experiment.")
    unit_id: str | int | None = Field(
        None, description="Customer / user id for sticky A/B assignment (stored hashed)."
    )
    reasons: int = Field(3, ge=0, le=20, description="Reason codes per row.")


class RecommendRequest(_Body):
    user: str | int = Field(description="The user to recommend for.")
    k: int = Field(10, ge=1, le=1000)
    alias: str | None = None
    unit_id: str | int | None = None
    context: dict[str, Scalar] = {}


class MonitorRequest(_Body):
    asset: str | int = Field(description="The asset (machine, engine) id.")
    readings: list[dict[str, Scalar]] = Field(min_length=1, description="New sensor rows.")
    alias: str | None = None
    unit_id: str | int | None = None


class FeedbackRequest(_Body):
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The answered request.")
    outcome: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="click, purchase, default, diagnosis_confirmed, failure_observed, label...",
    )
    value: float | None = None
    label: str | int | bool | None = None
    row: int | None = Field(None, ge=0, description="Row of the request the outcome is for.")
    observed_at: datetime | None = None


# ----------------------------------------------------------------------------- the service
class Service:
    """Everything one app instance holds: stores, model pool, caches, metrics."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.registry = Registry(settings.workspace, url=settings.db_url)
        self.store = EventStore(self.registry)
        self.writer: RequestLogWriter | None = None
        self.metrics = CollectorRegistry()
        labels = ("tenant", "project", "model_version", "endpoint")
        self.requests = Counter(
            "tailorkit_requests", "Requests answered.", (*labels, "status"), registry=self.metrics
        )
        self.errors = Counter(
            "tailorkit_errors",
            "Requests answered with an error.",
            (*labels, "status"),
            registry=self.metrics,
        )
        self.latency = Histogram(
            "tailorkit_request_latency_seconds",
            "Request latency.",
            labels,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.metrics,
        )
        self.batch_rows = Histogram(
            "tailorkit_batch_rows",
            "Rows per model call (micro-batching).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.metrics,
        )
        self.pool = ModelPool(
            self.registry,
            poll_interval=settings.poll_interval,
            max_batch_rows=settings.max_batch_rows,
            max_wait_ms=settings.max_wait_ms,
            on_batch=lambda jobs, rows: self.batch_rows.observe(rows),
            in_flight=lambda: self.in_flight,
        )
        self.in_flight = 0  # HTTP requests being handled (the batcher's load signal)
        self.io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="db")
        self.started = False
        self._keys: dict[str, tuple[Tenant | None, float]] = {}
        self._projects: dict[int, tuple[set[str], float]] = {}
        self._experiments: tuple[dict[str, Experiment], float] = ({}, 0.0)
        self.recent: OrderedDict[str, tuple[int, str, int | None]] = OrderedDict()
        self.background: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.writer = RequestLogWriter(self.store, self.settings.log_flush_interval)
        self.pool.start_polling()
        if self.settings.preload:
            routes = await self._run(self._startup_routes)
            await self.pool.preload(routes)
        self.started = True

    async def stop(self) -> None:
        for task in list(self.background):
            task.cancel()
        await self.pool.close()
        if self.writer is not None:
            await self._run(self.writer.close)
        self.io.shutdown(wait=False)
        self.store.close()
        self.registry.close()

    def _startup_routes(self) -> list[tuple[str, str]]:
        routes = []
        experiments = self.store.running_experiments()
        for project in self.store.granted_projects():
            try:
                aliases = self.registry.aliases(project)
            except RegistryError:
                continue
            wanted = {DEFAULT_ALIAS} | {
                arm.alias for arm in getattr(experiments.get(project), "arms", ())
            }
            routes += [(project, alias) for alias in sorted(wanted) if alias in aliases]
        return routes

    async def _run(self, function: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.io, function, *args)

    def spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # ------------------------------------------------------------------ tenants
    async def tenant_of(self, request: Request) -> Tenant:
        key = _api_key(request)
        if not key:
            raise ServiceError(401, "missing API key: send it in the X-API-Key header")
        now = time.monotonic()
        cached = self._keys.get(key)
        if cached is None or cached[1] < now:
            tenant = await self._run(self.store.authenticate, key)
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[key] = cached = (tenant, now + self.settings.cache_seconds)
        if cached[0] is None:
            raise ServiceError(401, "invalid API key")
        request.state.labels["tenant"] = cached[0].name
        return cached[0]

    async def projects_of(self, tenant: Tenant) -> set[str]:
        now = time.monotonic()
        cached = self._projects.get(tenant.id)
        if cached is None or cached[1] < now:
            cached = (
                await self._run(self.store.projects_of, tenant.id),
                now + self.settings.cache_seconds,
            )
            self._projects[tenant.id] = cached
        return cached[0]

    async def check_project(self, tenant: Tenant, project: str, request: Request) -> None:
        """Another tenant's project is exactly as invisible as one that does not exist."""
        if project not in await self.projects_of(tenant):
            raise ServiceError(404, f"no project '{project}' for this API key")
        request.state.labels["project"] = project

    async def running_experiment(self, project: str) -> Experiment | None:
        experiments, expires = self._experiments
        now = time.monotonic()
        if expires < now:
            experiments = await self._run(self.store.running_experiments)
            self._experiments = (experiments, now + self.settings.cache_seconds)
        return experiments.get(project)

    # ------------------------------------------------------------------ routing
    async def route(
        self, project: str, alias: str | None, unit_id: Any
    ) -> tuple[str, Experiment | None, str | None]:
        """(alias to answer with, experiment, shadow alias) for one request."""
        if alias is not None:
            return alias, None, None
        experiment = await self.running_experiment(project)
        if experiment is None:
            return DEFAULT_ALIAS, None, None
        if experiment.mode == "shadow":
            return experiment.arms[0].alias, experiment, experiment.arms[1].alias
        if unit_id is None:  # no unit, no assignment: the control arm, no exposure logged
            return experiment.arms[0].alias, None, None
        return experiment.assign(str(unit_id)).alias, experiment, None

    async def served(self, project: str, alias: str, request: Request) -> Served:
        try:
            served = await self.pool.get(project, alias)
        except RegistryError as error:
            raise ServiceError(404, str(error)) from None
        except ModelUnavailable as error:
            raise ServiceError(503, str(error)) from None
        request.state.labels["model_version"] = str(served.version.version)
        request.state.model_version = served.version.version
        return served

    def log_request(
        self,
        request: Request,
        tenant: Tenant,
        project: str,
        endpoint: str,
        alias: str,
        served: Served,
        experiment: Experiment | None,
        unit_id: Any,
        outputs: list[dict[str, Any]],
        shadow: dict[str, Any] | None = None,
    ) -> None:
        request_id = request.state.request_id
        self.recent[request_id] = (tenant.id, project, served.version.version)
        if len(self.recent) > RECENT_REQUESTS:
            self.recent.popitem(last=False)
        self.writer.put(
            {
                "request_id": request_id,
                "tenant_id": tenant.id,
                "project": project,
                "endpoint": endpoint,
                "alias": alias,
                "model_version": served.version.version,
                "experiment_id": experiment.id if experiment else None,
                "arm": alias if experiment else None,
                "unit_hash": unit_hash(str(unit_id)) if unit_id is not None else None,
                "n_rows": len(outputs),
                "outputs_json": _dumps(outputs).decode(),
                "shadow_json": _dumps(shadow).decode() if shadow else None,
                "latency_ms": (time.perf_counter() - request.state.started) * 1000,
                "at": datetime.now(timezone.utc),
            }
        )

    async def request_owner(self, request_id: str) -> tuple[int, str, int | None] | None:
        owner = self.recent.get(request_id)
        if owner is None:
            owner = await self._run(self.store.request_owner, request_id)
        return owner


# ----------------------------------------------------------------------------- the app
async def _tenant_dependency(request: Request) -> Tenant:
    return await request.app.state.service.tenant_of(request)


TenantDep = Annotated[Tenant, Depends(_tenant_dependency)]


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The FastAPI app for one workspace."""
    service = Service(settings or ServiceSettings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        service.spawn(service.start())
        yield
        await service.stop()

    app = FastAPI(
        title="tailorkit model service",
        version="1",
        lifespan=lifespan,
        description="Scores, recommendations and RUL per tenant, with A/B routing and feedback.",
    )
    app.state.service = service
    _install_error_handlers(app)
    app.add_middleware(RequestMiddleware, service=service)

    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> JSONResponse:
        """Liveness: the process answers."""
        return _json(request, {"status": "ok"})

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: startup loading done, database reachable, every route has a model."""
        problems = []
        if not service.started:
            problems.append("loading models")
        try:
            await service._run(service.store.ping)
        except Exception as error:
            problems.append(f"database unreachable: {type(error).__name__}")
        broken = {
            f"{p}@{a}": message
            for (p, a), message in service.pool.failures.items()
            if (p, a) not in service.pool.routes
        }
        degraded = {
            f"{p}@{a}": message
            for (p, a), message in service.pool.failures.items()
            if (p, a) in service.pool.routes
        }
        problems += list(broken.values())
        body = {
            "ready": not problems,
            "problems": problems,
            "degraded": degraded,
            "routes": {f"{p}@{a}": s.version.version for (p, a), s in service.pool.routes.items()},
        }
        return _json(request, body, status=200 if not problems else 503)

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus metrics: requests, errors and latency by tenant/project/model version."""
        return Response(generate_latest(service.metrics), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/projects", tags=["projects"])
    async def list_projects(request: Request, tenant: TenantDep) -> JSONResponse:
        """The calling tenant's projects with their aliases."""
        names = sorted(await service.projects_of(tenant))
        projects = await service._run(_describe_projects, service.registry, names)
        return _json(request, {"projects": projects})

    @app.get("/v1/projects/{project}", tags=["projects"])
    async def get_project(project: str, request: Request, tenant: TenantDep) -> JSONResponse:
        """One project: solution, versions, aliases, experiments."""
        await service.check_project(tenant, project, request)
        described = await service._run(_describe_projects, service.registry, [project])
        experiments = await service._run(service.store.experiments, project)
        body = {**described[0], "experiments": [e.as_dict() for e in experiments]}
        return _json(request, body)

    @app.get("/v1/projects/{project}/experiments", tags=["experiments"])
    async def list_experiments(project: str, request: Request, tenant: TenantDep):
        """The project's experiments with units, exposures and feedback per arm."""
        await service.check_project(tenant, project, request)

        def collect() -> list[dict[str, Any]]:
            return [
                {**e.as_dict(), "arms_summary": service.store.experiment_summary(e.id)}
                for e in service.store.experiments(project)
            ]

        return _json(request, {"experiments": await service._run(collect)})

    @app.get("/v1/projects/{project}/requests", tags=["events"])
    async def recent_requests(
        project: str, request: Request, tenant: TenantDep, limit: int = 50
    ) -> JSONResponse:
        """The project's latest answered requests (no inputs are stored)."""
        await service.check_project(tenant, project, request)
        await service._run(service.writer.flush)
        rows = await service._run(
            service.store.recent_requests, tenant.id, project, max(1, min(limit, 1000))
        )
        return _json(request, {"requests": rows})

    @app.post("/v1/projects/{project}/predict", tags=["scoring"])
    async def predict(
        project: str, body: PredictRequest, request: Request, tenant: TenantDep
    ) -> JSONResponse:
        """Rows in; probability, decision and reason codes out (credit, fraud, diagnosis)."""
        request.state.labels["endpoint"] = "predict"
        await service.check_project(tenant, project, request)
        if len(body.rows) > service.settings.max_rows:
            raise ServiceError(
                413,
                f"{len(body.rows)} rows in one request; the limit is {service.settings.max_rows}"
                " (split the rows over several requests)",
            )
        alias, experiment, shadow_alias = await service.route(project, body.alias, body.unit_id)
        served = await service.served(project, alias, request)
        try:
            warnings = served.adapter.check_rows(body.rows)
            outputs = await served.batcher.predict(body.rows, body.reasons)
        except UnsupportedEndpoint as error:
            raise ServiceError(404, str(error)) from None
        except DataError as error:
            raise ServiceError(422, str(error)) from None
        if shadow_alias is not None:
            service.spawn(
                _score_shadow(
                    service,
                    request,
                    tenant,
                    project,
                    alias,
                    served,
                    experiment,
                    body,
                    outputs,
                    shadow_alias,
                )
            )
        else:
            service.log_request(
                request,
                tenant,
                project,
                "predict",
                alias,
                served,
                experiment,
                body.unit_id,
                outputs,
            )
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
        return _json(request, response)

    async def _answer(
        kind: str,
        project: str,
        body: RecommendRequest | MonitorRequest,
        request: Request,
        tenant: Tenant,
    ) -> JSONResponse:
        request.state.labels["endpoint"] = kind
        await service.check_project(tenant, project, request)
        alias, experiment, _shadow = await service.route(project, body.alias, body.unit_id)
        served = await service.served(project, alias, request)
        payload = body.model_dump(exclude={"alias", "unit_id"})
        try:
            if kind == "recommend":  # concurrent users share one model call
                if "recommend" not in served.adapter.kinds:
                    raise served.adapter.unsupported("recommend")
                result = (await served.batcher.predict([payload], 0))[0]
            else:
                result = await asyncio.get_running_loop().run_in_executor(
                    service.pool.executor, served.adapter.monitor, payload
                )
        except UnsupportedEndpoint as error:
            raise ServiceError(404, str(error)) from None
        except DataError as error:
            raise ServiceError(422, str(error)) from None
        service.log_request(
            request, tenant, project, kind, alias, served, experiment, body.unit_id, [result]
        )
        return _json(
            request,
            {
                "request_id": request.state.request_id,
                "model_version": served.version.version,
                "project": project,
                "alias": alias,
                **result,
            },
        )

    @app.post("/v1/projects/{project}/recommend", tags=["recommendation"])
    async def recommend(
        project: str, body: RecommendRequest, request: Request, tenant: TenantDep
    ) -> JSONResponse:
        """A user in, top-K items out (recommendation projects)."""
        return await _answer("recommend", project, body, request, tenant)

    @app.post("/v1/projects/{project}/monitor", tags=["maintenance"])
    async def monitor(
        project: str, body: MonitorRequest, request: Request, tenant: TenantDep
    ) -> JSONResponse:
        """New sensor readings in; remaining useful life, alerts out (maintenance projects)."""
        return await _answer("monitor", project, body, request, tenant)

    @app.post("/v1/projects/{project}/rul", tags=["maintenance"], include_in_schema=True)
    async def rul(
        project: str, body: MonitorRequest, request: Request, tenant: TenantDep
    ) -> JSONResponse:
        """Same as ``monitor``: remaining useful life of an asset from its readings."""
        return await _answer("monitor", project, body, request, tenant)

    @app.post("/v1/feedback", tags=["events"])
    async def feedback(body: FeedbackRequest, request: Request, tenant: TenantDep):
        """An outcome for an answered request; acknowledged only once durably stored."""
        request.state.labels["endpoint"] = "feedback"
        owner = await service.request_owner(body.request_id)
        if owner is None and service.writer is not None:
            await service._run(service.writer.flush)
            owner = await service.request_owner(body.request_id)
        if owner is None or owner[0] != tenant.id:
            raise ServiceError(404, f"no request '{body.request_id}' for this API key")
        _tenant_id, project, version = owner
        request.state.labels["project"] = project
        request.state.labels["model_version"] = str(version)
        request.state.model_version = version
        feedback_id = uuid.uuid4().hex
        record = {
            "feedback_id": feedback_id,
            "request_id": body.request_id,
            "tenant_id": tenant.id,
            "project": project,
            "outcome": body.outcome,
            "value": body.value,
            "label": None if body.label is None else str(body.label),
            "row": body.row,
            "observed_at": body.observed_at,
        }
        await service._run(service.store.add_feedback, record)
        return _json(
            request,
            {
                "request_id": request.state.request_id,
                "model_version": version,
                "feedback_id": feedback_id,
                "for_request": body.request_id,
                "stored": True,
            },
        )

    return app


async def _score_shadow(
    service: Service,
    request: Request,
    tenant: Tenant,
    project: str,
    alias: str,
    served: Served,
    experiment: Experiment,
    body: PredictRequest,
    outputs: list[dict[str, Any]],
    shadow_alias: str,
) -> None:
    """Score the shadow alias after answering; log both, return nothing to the caller."""
    shadow: dict[str, Any]
    try:
        challenger = await service.pool.get(project, shadow_alias)
        shadow_outputs = await challenger.batcher.predict(body.rows, body.reasons)
        shadow = {
            "alias": shadow_alias,
            "model_version": challenger.version.version,
            "predictions": shadow_outputs,
        }
    except Exception as error:  # the shadow must never hurt the live answer
        shadow = {"alias": shadow_alias, "error": f"{type(error).__name__}: {error}"}
    service.log_request(
        request,
        tenant,
        project,
        "predict",
        alias,
        served,
        experiment,
        body.unit_id,
        outputs,
        shadow,
    )


def _describe_projects(registry: Registry, names: list[str]) -> list[dict[str, Any]]:
    listed = {p["name"]: p for p in registry.projects()}
    return [
        {
            "name": name,
            "solution": listed[name]["solution"],
            "versions": listed[name]["versions"],
            "aliases": registry.aliases(name),
        }
        for name in names
        if name in listed
    ]


def _api_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson (several times faster than ``json``; NaN/inf become null)."""

    def render(self, content: Any) -> bytes:
        return _dumps(content)


def _dumps(value: Any) -> bytes:
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS  # int keys as json does
    return orjson.dumps(value, default=str, option=options)


def _json(request: Request, body: dict[str, Any], status: int = 200) -> JSONResponse:
    body.setdefault("request_id", request.state.request_id)
    body.setdefault("model_version", getattr(request.state, "model_version", None))
    return FastJSONResponse(body, status_code=status)


def _error(request: Request, status: int, message: str) -> JSONResponse:
    return _json(request, {"error": message}, status=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError):
        return _error(request, error.status, str(error))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        errors = error.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            first = next(e for e in errors if e.get("type") == "json_invalid")
            detail = (first.get("ctx") or {}).get("error", "invalid JSON")
            return _error(request, 400, f"malformed JSON body: {detail}")
        if any(
            _location(e.get("loc", ())) == "body" and isinstance(e.get("input"), (bytes, str))
            for e in errors
        ):  # not sent as JSON at all
            return _error(request, 400, _validation_message(errors))
        return _error(request, 422, _validation_message(errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        return _error(request, error.status_code, str(error.detail))

    @app.exception_handler(TailorkitError)
    async def user_error(request: Request, error: TailorkitError):
        status = 404 if isinstance(error, (RegistryError, UnsupportedEndpoint)) else 422
        return _error(request, status, str(error))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception):
        log.exception("request %s failed", getattr(request.state, "request_id", "?"))
        return _error(request, 500, f"internal error ({type(error).__name__}); see the log")


def _validation_message(errors: list[dict[str, Any]]) -> str:
    """The first validation problem as one line: ``body.rows[0].income: message``."""
    problems: dict[str, str] = {}
    for error in errors:
        path = _location(error.get("loc", ()))
        message = error.get("msg", "invalid value")
        kind = error.get("type", "")
        if kind == "finite_number":
            message = "NaN and infinity are not allowed; send null for a missing value"
        elif kind == "missing":
            message = "field required"
        elif kind in ("model_attributes_type", "dict_type") and path == "body":
            message = "the request body must be a JSON object (Content-Type: application/json)"
        # A value failing every member of a union reports once, with its most useful message.
        if path not in problems or kind == "finite_number":
            problems[path] = message
    path, message = next(iter(problems.items()))
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"{path}: {message}{more}"


_UNION_MEMBERS = {"float", "int", "str", "bool", "none", "list", "dict"}


def _location(parts: tuple) -> str:
    path = ""
    for part in parts:
        text = str(part)
        if text in _UNION_MEMBERS or text.startswith(("function-", "constrained-")):
            continue
        path += f"[{text}]" if isinstance(part, int) else (f".{text}" if path else text)
    return path


class _TooLarge(StarletteHTTPException):
    pass


class RequestMiddleware:
    """Request ids, the body-size limit (413), latency metrics and one access-log line."""

    def __init__(self, app, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = self.service
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        labels = {"tenant": "", "project": "", "model_version": "", "endpoint": "other"}
        state.update(request_id=request_id, labels=labels, started=started)
        status_holder = [500]
        limit = service.settings.max_body_bytes

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_json(
                send_with_id,
                413,
                {
                    "error": f"request body of {declared} bytes exceeds the limit of {limit}",
                    "request_id": request_id,
                    "model_version": None,
                },
            )
        else:
            received = [0]

            async def counted_receive():
                message = await receive()
                if message["type"] == "http.request":
                    received[0] += len(message.get("body", b""))
                    if received[0] > limit:
                        raise _TooLarge(413, f"request body exceeds the limit of {limit} bytes")
                return message

            service.in_flight += 1
            try:
                await self.app(scope, counted_receive, send_with_id)
            finally:
                service.in_flight -= 1
        elapsed = time.perf_counter() - started
        status = status_holder[0]
        values = (labels["tenant"], labels["project"], labels["model_version"], labels["endpoint"])
        if labels["endpoint"] != "other" or labels["tenant"]:
            service.requests.labels(*values, str(status)).inc()
            service.latency.labels(*values).observe(elapsed)
            if status >= 400:
                service.errors.labels(*values, str(status)).inc()
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request_id=%s method=%s path=%s tenant=%s project=%s model_version=%s "
                "status=%s ms=%.2f",
                request_id,
                scope["method"],
                scope["path"],
                *values[:3],
                status,
                elapsed * 1000,
            )


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_json(send, status: int, body: dict[str, Any]) -> None:
    payload = _dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
