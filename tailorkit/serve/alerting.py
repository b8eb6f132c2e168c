"""Alerts from monitoring windows: the spec's rules (``loop/alerts.py``) raise them, the store
keeps them (honouring the cooldown), and worker threads POST them to the spec's webhook.

``AlertNotifier.raise_alerts(result, rules)`` does the database work and returns at once: the
deliveries run on ``DELIVERY_THREADS`` daemon threads, so a webhook that is slow or down
never holds up the caller or serving. A delivery that fails after its retries is stored as
``failed`` with the last error. Alerts still ``pending`` when the service stops stay so.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from tailorkit.loop.alerts import alerts
from tailorkit.registry import ModelVersion, Registry
from tailorkit.serve.alert_delivery import Delivery, post_with_retries
from tailorkit.serve.alert_store import AlertStore, StoredAlert
from tailorkit.spec import MonitoringSection

log = logging.getLogger("tailorkit.serve")

DELIVERY_THREADS = 2


def _ignore(*_args: Any) -> None:
    return None


class AlertNotifier:
    """Raises, stores and delivers alerts; ``on_alert(alert)`` runs for each stored one and
    ``on_delivery(alert, delivery)`` after each delivery (the service's counters)."""

    def __init__(
        self,
        store: AlertStore,
        *,
        on_alert: Callable[[StoredAlert], None] = _ignore,
        on_delivery: Callable[[StoredAlert, Delivery], None] = _ignore,
        backoff_s: float = 0.5,
    ) -> None:
        self.store = store
        self.on_alert, self.on_delivery = on_alert, on_delivery
        self.backoff_s = backoff_s
        self._queue: queue.Queue[tuple[StoredAlert, MonitoringSection] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def raise_alerts(
        self, result: Mapping[str, Any], rules: MonitoringSection
    ) -> list[StoredAlert]:
        """Store the alerts ``rules`` raise on ``result`` (those outside their cooldown) and
        queue their delivery when the rules name a webhook; returns the stored ones."""
        stored = []
        for alert in alerts(result, rules):
            row = self.store.record(
                alert, cooldown_s=rules.cooldown_s, deliver=rules.webhook is not None
            )
            if row is None:
                continue
            log.warning("alert %s on %s: %s", row.rule, row.project, row.message)
            self.on_alert(row)
            stored.append(row)
            if rules.webhook is not None:
                self._start_workers()
                self._queue.put((row, rules))
        return stored

    def _start_workers(self) -> None:
        with self._lock:
            while len(self._threads) < DELIVERY_THREADS:
                thread = threading.Thread(target=self._work, name="alerts", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            alert, rules = job
            try:
                self.deliver(alert, rules)
            except Exception:  # a worker never dies: the next alert still goes out
                log.exception("alert %d: delivery bookkeeping failed", alert.id)

    def deliver(self, alert: StoredAlert, rules: MonitoringSection) -> Delivery:
        """POST ``alert`` to the rules' webhook with retries and store how it ended."""
        try:
            delivery = post_with_retries(
                rules.webhook,
                alert.payload(),
                retries=rules.webhook_retries,
                timeout_s=rules.webhook_timeout_s,
                backoff_s=self.backoff_s,
                idempotency_key=f"alert-{alert.id}",
            )
        except Exception as error:  # e.g. a URL httpx cannot use: failed, not left pending
            delivery = Delivery("failed", 0, f"could not send: {type(error).__name__}")
        if delivery.status == "failed":
            log.error(
                "alert %d (%s on %s) not delivered after %d tries: %s",
                alert.id,
                alert.rule,
                alert.project,
                delivery.attempts,
                delivery.last_error,
            )
        self.store.mark(alert.id, delivery.status, delivery.attempts, delivery.last_error)
        self.on_delivery(alert, delivery)
        return delivery

    def close(self) -> None:
        """Stop the workers after their current delivery (they are daemons: exit waits not)."""
        for _ in self._threads:
            self._queue.put(None)


def monitoring_rules(registry: Registry, version: ModelVersion) -> MonitoringSection:
    """The ``monitoring`` rules of the spec that trained ``version`` (defaults for a run of
    an older tailorkit, whose spec has none)."""
    spec = next(
        (run["spec"] for run in registry.runs(version.project) if run["id"] == version.run_id),
        {},
    )
    try:
        return MonitoringSection.model_validate(spec.get("monitoring") or {})
    except ValidationError as error:  # only a hand-edited database gets here
        log.error("%s v%d: monitoring rules unreadable, defaults used: %s", version.project,
                  version.version, error)  # fmt: skip
        return MonitoringSection()
