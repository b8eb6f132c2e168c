"""The contract every industry solution keeps, and what one run of its candidates returns.

A solution knows its data and its models; the run loop (``pipeline.Project.run``) does the
rest once for all of them: gates, registry, alias, report. The CLI, the service and
compression find a solution through :func:`tailorkit.solutions.get_solution` and this
contract only, so adding one is a package ``solutions/<name>/`` and one registry line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

import pandas as pd

from tailorkit.data.io import read_table
from tailorkit.errors import SpecError, TailorkitError
from tailorkit.registry import ModelVersion, Registry
from tailorkit.spec import SpecBase

Say = Callable[[str], None]


@dataclass
class RunContext:
    """What a solution gets for one run."""

    spec: Any  # the solution's spec class
    base_dir: Path  # the spec's folder: relative data paths start here
    run_id: int
    artifact_dir: Path  # an empty folder: the solution saves the model to register here
    say: Say = lambda message: None


@dataclass
class Evaluation:
    """The candidates of one run, evaluated; the chosen one saved in ``artifact_dir``."""

    leaderboard: list[dict[str, Any]]  # one row per candidate, the chosen one first
    best: str
    family: str  # the catalogue family of the registered model
    document: dict[str, Any]  # the report's content (protocol, data, curves, ...)
    metrics: dict[str, Any] | None = None  # what the gates check (default: the first row)
    fairness: list[dict[str, Any]] = field(default_factory=list)  # per protected column
    measured_on_final: tuple[str, ...] = ()  # metrics measured on the refitted model
    model: Any = None  # the registered model, when the solution has it in memory
    # the trivial baseline on the same protocol: {"name": ..., <headline metric>: value}
    baseline: dict[str, Any] | None = None

    @property
    def gate_metrics(self) -> dict[str, Any]:
        return self.metrics if self.metrics is not None else self.leaderboard[0]


@dataclass
class ProfileTable:
    """One table ``tailorkit profile`` checks: its name, rows and prediction target."""

    name: str
    frame: pd.DataFrame
    target: str | None = None
    key: str | None = None  # an id column (kept out of the leakage checks)


class UnsupportedCommand(TailorkitError):
    """The project's solution does not offer this command."""


class Solution(ABC):
    """One industry template. Class attributes describe it; methods do its work."""

    name: ClassVar[str]
    spec_class: ClassVar[type[SpecBase]]
    defaults: ClassVar[dict[str, Any]] = {}  # the spec's solution layer (RecBole-style)
    metrics: ClassVar[tuple[str, ...]]  # metric names a requirement line may use
    headline: ClassVar[str]  # the one metric that sums a model up
    headline_higher: ClassVar[bool] = True  # is a larger headline better?
    board_columns: ClassVar[dict[str, str]]  # leaderboard column -> console header
    summary: ClassVar[str] = ""  # one line for `tailorkit init --help`

    # ------------------------------------------------------------- project
    @abstractmethod
    def init_template(self, name: str, options: dict[str, Any]) -> str:
        """A commented ``tailorkit.yaml`` from the ``tailorkit init`` options; a missing
        option, file or column is a ``TailorkitError`` naming it."""

    @abstractmethod
    def demo_project(self, folder: Path) -> tuple[Path, str]:
        """Write the offline demo project; returns its spec path and a data description."""

    @abstractmethod
    def describe_data(self, spec: Any, base_dir: Path) -> tuple[list[str], str]:
        """Load the data as a run would: (warnings, one summary line)."""

    @abstractmethod
    def profile_tables(self, spec: Any, base_dir: Path) -> list[ProfileTable]:
        """The tables ``tailorkit profile`` checks for quality, leakage and drift."""

    # ----------------------------------------------------------------- run
    @abstractmethod
    def fit_candidates(self, context: RunContext) -> Evaluation:
        """Train and evaluate every candidate, refit the chosen one and save it (with its
        decision policy) in ``context.artifact_dir``."""

    @abstractmethod
    def write_report(self, document: dict[str, Any], html_path: Path, json_path: Path) -> None:
        """Write the run's report: one self-contained HTML file and the same as JSON."""

    # ---------------------------------------------------------- use a model
    @abstractmethod
    def predict_file(
        self,
        version: ModelVersion,
        source: str,
        handle: IO[str],
        *,
        chunk_rows: int,
        warn: Say,
    ) -> int:
        """``tailorkit predict``: CSV out for ``source``; returns the rows written."""

    @abstractmethod
    def serving_adapter(self, version: ModelVersion) -> Any:
        """The loaded version behind the service's endpoints (a ``ServingAdapter``)."""

    def compress(
        self, registry: Registry, version: ModelVersion, spec: Any, base_dir: Path, **options: Any
    ) -> dict[str, Any]:
        """``tailorkit compress``: smaller variants of a registered version (its project's
        ``spec``, whose folder is ``base_dir``), chosen by the spec's limits, with a report."""
        raise UnsupportedCommand(
            f"tailorkit compress is not available for {self.name} projects (it compresses "
            "tabular scoring models: credit_risk)"
        )

    def export_edge(self, version: ModelVersion, folder: Path) -> Path:
        """``tailorkit export --edge``: a bundle that scores without tailorkit."""
        raise UnsupportedCommand(
            f"tailorkit export is not available for {self.name} projects (it exports tabular "
            "scoring models: credit_risk)"
        )


def require_options(solution: str, options: dict[str, Any], *names: str) -> None:
    """``tailorkit init``: a clear error naming the options a solution needs."""
    missing = [n for n in names if not options.get(n)]
    if missing:
        flags = ", ".join("--" + n.replace("_", "-") for n in missing)
        raise SpecError(f"tailorkit init {solution} needs {flags}")


def table_columns(source: str) -> list[str]:
    """The column names of a table ``tailorkit init`` was pointed at (read in full)."""
    return [str(c) for c in read_table(source, base_dir=Path.cwd()).columns]


def require_columns(source: str, columns: list[str], wanted: dict[str, str | None]) -> None:
    """``tailorkit init``: every named column (option -> column) exists in ``source``."""
    for option, column in wanted.items():
        if column and column not in columns:
            raise SpecError(
                f"{source}: no column '{column}' (from {option}); its columns are "
                f"{', '.join(map(repr, columns[:20]))}{', ...' if len(columns) > 20 else ''}"
            )
