"""How the model service runs: the settings ``tailorkit serve`` fills from its options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
