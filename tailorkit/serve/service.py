"""What one app instance holds: stores, the model pool, caches, metrics and their lifecycle.

Database calls run on a small thread pool (``run_io``) so the event loop never blocks on them;
API keys (tenants' and operators'), tenants' projects and running experiments are cached for
``cache_seconds``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tailorkit.errors import DatabaseUnavailable, RegistryError, TailorkitError
from tailorkit.loop.monitoring.window import parse_window
from tailorkit.registry import Registry
from tailorkit.registry.redaction import without_paths
from tailorkit.serve.alert_delivery import Delivery
from tailorkit.serve.alert_store import StoredAlert
from tailorkit.serve.alerting import AlertNotifier, monitoring_rules
from tailorkit.serve.errors import ServiceError
from tailorkit.serve.events import EventStore, Experiment, RequestLogWriter, Tenant
from tailorkit.serve.experiment_decisions import decide_forever
from tailorkit.serve.limits import TenantLimits
from tailorkit.serve.monitoring_loop import monitor_forever
from tailorkit.serve.observations import Sampler
from tailorkit.serve.operators import Operator
from tailorkit.serve.request_retention import EXPIRING, sweep_forever
from tailorkit.serve.responses import dumps
from tailorkit.serve.runtime import ModelPool, ModelUnavailable, Served
from tailorkit.serve.settings import ServiceSettings
from tailorkit.spec import MonitoringSection

log = logging.getLogger("tailorkit.serve")

DEFAULT_ALIAS = "champion"
RECENT_REQUESTS = 100_000
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Service:
    """Everything one app instance holds: stores, model pool, caches, metrics."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.registry = Registry(settings.workspace, url=settings.db_url)
        self.store = EventStore(self.registry)
        self.writer: RequestLogWriter | None = None
        self._install_metrics()
        self.notifier = AlertNotifier(
            self.store.alerts, on_alert=self._count_alert, on_delivery=self._count_delivery
        )
        self.pool = ModelPool(
            self.registry,
            poll_interval=settings.poll_interval,
            max_batch_rows=settings.max_batch_rows,
            turn_ms=settings.turn_ms,
            max_wait_ms=settings.max_wait_ms,
            on_batch=lambda jobs, rows: self.batch_rows.observe(rows),
            in_flight=lambda: self.in_flight,
        )
        self.in_flight = 0  # HTTP requests being handled (the batcher's load signal)
        self.limits = TenantLimits(
            settings.tenant_rate, settings.tenant_burst, settings.tenant_queued_rows
        )
        self.io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="db")
        self.sampler = Sampler(
            settings.observe_rate, settings.observe_rates, settings.observe_cap_per_hour
        )
        self.started = False
        self._keys: dict[str, tuple[Tenant | None, float]] = {}
        self._operator_keys: dict[str, tuple[Operator | None, float]] = {}
        self._projects: dict[int, tuple[set[str], float]] = {}
        self._experiments: tuple[dict[str, Experiment], float] = ({}, 0.0)
        self.recent: OrderedDict[str, tuple[int, str, int | None]] = OrderedDict()
        self.background: set[asyncio.Task] = set()

    def _install_metrics(self) -> None:
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
            buckets=LATENCY_BUCKETS,
            registry=self.metrics,
        )
        experiment = ("project", "experiment")
        self.experiment_units = Gauge(
            "tailorkit_experiment_units",
            "Units assigned per arm of a running experiment.",
            (*experiment, "arm"),
            registry=self.metrics,
        )
        self.experiment_srm = Gauge(
            "tailorkit_experiment_srm_p_value",
            "Sample-ratio-mismatch p-value of a running experiment.",
            experiment,
            registry=self.metrics,
        )
        self.experiment_lift = Gauge(
            "tailorkit_experiment_primary_lift",
            "Relative lift of the challenger on the primary metric.",
            experiment,
            registry=self.metrics,
        )
        self.alerts_raised = Counter(
            "tailorkit_alerts",
            "Alert events stored (past their cooldown), by rule.",
            ("project", "rule"),
            registry=self.metrics,
        )
        self.alert_failures = Counter(
            "tailorkit_alert_delivery_failures",
            "Alerts the webhook did not take after every retry.",
            ("project",),
            registry=self.metrics,
        )
        self.feature_drift = Gauge(
            "tailorkit_feature_drift",
            "PSI of a feature's last monitored window against the training reference.",
            ("project", "feature"),
            registry=self.metrics,
        )
        self.prediction_psi = Gauge(
            "tailorkit_prediction_psi",
            "PSI of the scores of the last monitored window against the training reference.",
            ("project",),
            registry=self.metrics,
        )
        self.realised_auc = Gauge(
            "tailorkit_realised_auc",
            "AUC of the last monitored window's labelled rows (feedback 0/1).",
            ("project",),
            registry=self.metrics,
        )
        self.batch_rows = Histogram(
            "tailorkit_batch_rows",
            "Rows per model call (micro-batching).",
            buckets=BATCH_BUCKETS,
            registry=self.metrics,
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.writer = RequestLogWriter(self.store, self.settings.log_flush_interval)
        self.pool.start_polling()
        if self.settings.request_log_days > 0:
            for table in EXPIRING:
                delete_batch = functools.partial(self.store.delete_expired, table=table)
                self.spawn(sweep_forever(delete_batch, self.settings.request_log_days, self.run_io))
        if self.settings.decide_every_s > 0:
            self.spawn(
                decide_forever(
                    self.store, self.settings.decide_every_s, self.run_io, self._experiment_gauges
                )
            )
        if self.settings.monitor_every_s > 0:
            window = self.settings.monitor_window
            span = parse_window(window, field="--monitor-window")
            self.spawn(monitor_forever(self, self.settings.monitor_every_s, span, window))
        if self.settings.preload:
            try:
                routes = await self.run_io(self._startup_routes)
            except DatabaseUnavailable as error:  # up anyway: answers 503, loads on first use
                log.error("no models preloaded: %s", error)
                routes = []
            await self.pool.preload(routes)
        self.started = True

    def _experiment_gauges(self, experiment: Experiment, result: dict) -> None:
        labels = (experiment.project, str(experiment.id))
        for arm, units in result["units"].items():
            self.experiment_units.labels(*labels, arm).set(units)
        if result["srm_p_value"] is not None:
            self.experiment_srm.labels(*labels).set(result["srm_p_value"])
        primary = [m for m in result["metrics"] if m["role"] == "primary"]
        if primary:  # no relative lift over a champion's 0: NaN, as Prometheus writes it
            lift = primary[0]["lift"]
            self.experiment_lift.labels(*labels).set(math.nan if lift is None else lift)

    def _count_alert(self, alert: StoredAlert) -> None:
        self.alerts_raised.labels(alert.project, alert.rule).inc()

    def _count_delivery(self, alert: StoredAlert, delivery: Delivery) -> None:
        if delivery.status == "failed":
            self.alert_failures.labels(alert.project).inc()

    async def raise_alerts(
        self, result: dict[str, Any], rules: MonitoringSection | None = None
    ) -> list[StoredAlert]:
        """Alerts on one monitoring window of ``result["project"]`` by ``rules`` (default: the
        spec of the run that trained ``result["model_version"]``, or the champion): stored
        and counted here, delivered in the background; a database that is down is logged
        and raises nothing."""
        try:
            if rules is None:
                version = result.get("model_version")
                ref = f"{result['project']}" + (f":{version}" if version else f"@{DEFAULT_ALIAS}")
                served = await self.run_io(self.registry.resolve, ref)
                rules = await self.run_io(monitoring_rules, self.registry, served)
            return await self.run_io(self.notifier.raise_alerts, result, rules)
        except (DatabaseUnavailable, RegistryError) as error:
            log.error("no alerts for %s: %s", result.get("project"), error)
            return []

    async def stop(self) -> None:
        for task in list(self.background):
            task.cancel()
        self.notifier.close()
        await self.pool.close()
        if self.writer is not None:
            await self.run_io(self.writer.close)
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

    async def run_io(self, function: Callable, *args: Any) -> Any:
        """``function(*args)`` on the database thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.io, function, *args)

    def spawn(self, coroutine) -> None:
        """Run ``coroutine`` in the background; cancelled when the service stops."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # ------------------------------------------------------------------ tenants
    async def tenant_of(self, key: str | None, request: Request) -> Tenant:
        """The tenant an API key belongs to (401 without a valid key, 429 past its rate)."""
        if not key:
            raise ServiceError(401, "missing API key: send it in the X-API-Key header")
        tenant = await self._holder(self._keys, key, self.store.authenticate)
        if tenant is None:
            raise ServiceError(401, "invalid API key")
        request.state.labels["tenant"] = tenant.name
        self.limits.admit(tenant.id, tenant.name)
        return tenant

    async def operator_of(self, key: str | None) -> Operator:
        """The operator an operator key belongs to: 401 without a valid key, 403 for a
        tenant's key (it opens the tenant's own projects, nothing about the others)."""
        if not key:
            raise ServiceError(
                401, "missing operator key: send it as Authorization: Bearer <key> or X-API-Key"
            )
        operator = await self.operator_or_none(key)
        if operator is not None:
            return operator
        if await self._holder(self._keys, key, self.store.authenticate) is not None:
            raise ServiceError(
                403,
                "this is a tenant's API key; this endpoint needs an operator key "
                "(`tailorkit operators create NAME`)",
            )
        raise ServiceError(401, "invalid operator key")

    async def operator_or_none(self, key: str | None) -> Operator | None:
        """The operator of ``key``, or None for no key or any other key."""
        if not key:
            return None
        return await self._holder(self._operator_keys, key, self.store.operators.authenticate)

    async def _holder(self, cache: dict[str, tuple[Any, float]], key: str, lookup: Callable):
        """``lookup(key)`` (a tenant, an operator or None), cached for ``cache_seconds``."""
        now = time.monotonic()
        cached = cache.get(key)
        if cached is None or cached[1] < now:
            holder = await self.run_io(lookup, key)
            if len(cache) > 10_000:
                cache.clear()
            cache[key] = cached = (holder, now + self.settings.cache_seconds)
        return cached[0]

    async def projects_of(self, tenant: Tenant) -> set[str]:
        now = time.monotonic()
        cached = self._projects.get(tenant.id)
        if cached is None or cached[1] < now:
            cached = (
                await self.run_io(self.store.projects_of, tenant.id),
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
            experiments = await self.run_io(self.store.running_experiments)
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
            raise ServiceError(404, without_paths(str(error), self.registry.workspace)) from None
        except ModelUnavailable as error:
            raise ServiceError(503, str(error)) from None
        request.state.labels["model_version"] = str(served.version.version)
        request.state.model_version = served.version.version
        return served

    def remember(self, request: Request, tenant: Tenant, project: str, served: Served) -> None:
        """Who owns an answered request, kept in memory for its feedback (before its record is
        written: a shadow-scored request is logged once the shadow has answered too)."""
        self.recent[request.state.request_id] = (tenant.id, project, served.version.version)
        if len(self.recent) > RECENT_REQUESTS:
            self.recent.popitem(last=False)

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
        protected: dict[str, list[Any]] | None = None,
        inputs: list[dict[str, Any]] | None = None,
    ) -> None:
        """Queue the record of an answered request (``protected``: the protected attributes'
        values of an experiment's rows, ``ServingAdapter.protected_values``), with its sampled
        input rows (filtered by the writer, off the request path, by the version's
        ``ObservationPolicy``)."""
        self.remember(request, tenant, project, served)
        observed = {}
        if inputs and served.observation is not None:
            kept = self.sampler.admit(project, len(inputs))
            if kept:
                observed["observed"] = (served.observation, inputs[:kept])
        self._put_record(
            request,
            tenant,
            project,
            endpoint,
            alias,
            experiment,
            unit_id,
            model_version=served.version.version,
            n_rows=len(outputs),
            outputs_json=dumps(outputs).decode(),
            shadow_json=dumps(shadow).decode() if shadow else None,
            status=200,
            protected_json=dumps(protected).decode() if protected and experiment else None,
            **observed,
        )

    @contextmanager
    def arm_failures(
        self,
        request: Request,
        tenant: Tenant,
        project: str,
        endpoint: str,
        alias: str,
        experiment: Experiment | None,
        unit_id: Any,
        n_rows: int,
    ) -> Iterator[None]:
        """Around an experiment request's loading and scoring: a failure of its arm's model (a
        5xx: its artifact unavailable, or the model raised) is logged with the arm, for the
        error-rate guardrail, and goes on to its answer. A client's mistake (4xx) is not."""
        if experiment is None:
            yield
            return
        status = None
        try:
            yield
        except ServiceError as error:
            status = error.status if error.status >= 500 else None
            raise
        except TailorkitError:  # a 4xx, or a 503 of the database: not the arm's failure
            raise
        except Exception:
            status = 500
            raise
        finally:
            if status is not None:
                self._put_record(
                    request,
                    tenant,
                    project,
                    endpoint,
                    alias,
                    experiment,
                    unit_id,
                    model_version=getattr(request.state, "model_version", None),
                    n_rows=n_rows,
                    outputs_json="[]",
                    shadow_json=None,
                    status=status,
                    protected_json=None,
                )

    def _put_record(
        self,
        request: Request,
        tenant: Tenant,
        project: str,
        endpoint: str,
        alias: str,
        experiment: Experiment | None,
        unit_id: Any,
        **columns: Any,
    ) -> None:
        self.writer.put(
            {
                "request_id": request.state.request_id,
                "tenant_id": tenant.id,
                "project": project,
                "endpoint": endpoint,
                "alias": alias,
                "experiment_id": experiment.id if experiment else None,
                "arm": alias if experiment else None,
                "unit_hash": self.store.unit_hash(str(unit_id)) if unit_id is not None else None,
                "latency_ms": (time.perf_counter() - request.state.started) * 1000,
                "at": datetime.now(timezone.utc),
                **columns,
            }
        )

    async def request_owner(self, request_id: str) -> tuple[int, str, int | None] | None:
        owner = self.recent.get(request_id)
        if owner is None:
            owner = await self.run_io(self.store.request_owner, request_id)
        return owner
