"""How the model service runs: the settings ``tailorkit serve`` fills from its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ServiceSettings:
    """How the service runs; ``tailorkit serve`` fills these from its options."""

    workspace: Path = Path(".tailorkit")
    db_url: str | None = None
    max_body_bytes: int = 1_000_000
    max_rows: int = 1000
    poll_interval: float = 2.0
    max_batch_rows: int = 1024  # rows per model call at most
    turn_ms: float = 10.0  # and about this much model time per call (0: rows only)
    max_wait_ms: float = 0.0
    tenant_rate: float = 5000.0  # requests per second per tenant (0: no limit)
    tenant_burst: int = 10_000
    tenant_queued_rows: int = 50_000  # rows of one tenant waiting to be scored (0: no quota)
    preload: bool = True
    log_flush_interval: float = 0.05
    cache_seconds: float = 2.0
    request_log_days: int = 30  # served-request records kept this long (0: forever)
    observe_rate: float = 1.0  # share of requests whose input rows are observed (0: none)
    observe_rates: dict[str, float] = field(default_factory=dict)  # per project, over the rate
    observe_cap_per_hour: int = 10_000  # observed rows per project and clock hour (0: no cap)
    decide_every_s: float = 60.0  # analyse experiments that have a plan this often (0: never)
    monitor_every_s: float = 600.0  # check drift and alert rules this often (0: never)
    monitor_window: str = "24h"  # over the newest observed rows of this long
