"""The project spec (``tailorkit.yaml``): sections shared by the solutions, validated with
pydantic, layered like RecBole.

Layers, later wins: solution defaults -> the user's YAML -> command-line ``--set`` overrides
(``tailorkit.solutions.specs.load_spec`` puts them together for the spec's solution).
Errors name the field and the line it sits on.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from tailorkit.errors import SpecError, shown_value

SPEC_FILE = "tailorkit.yaml"
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
DURATION_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_EXAMPLES = {"s": "90s", "m": "15m", "h": "6h", "d": "2d"}


def duration_seconds(text: str, units: str = "smhd") -> float:
    """``90s``, ``15m``, ``6h`` or ``2d`` (only the ``units`` given) in seconds; anything else
    is a ``ValueError`` saying what a duration looks like."""
    found = DURATION.fullmatch(str(text).strip())
    if found is None or found[2] not in units:
        examples = ", ".join(DURATION_EXAMPLES[unit] for unit in units)
        raise ValueError(f"not a duration; use a number and a unit, e.g. {examples}")
    return float(found[1]) * DURATION_SECONDS[found[2]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromotionSection(_Strict):
    """The floor every promotion keeps, beside the spec's requirements (off only on purpose)."""

    beat_baseline: bool = Field(
        True, description="the winner must beat the solution's trivial baseline"
    )
    no_regression: bool = Field(
        True, description="nor be worse than the current champion beyond the noise"
    )


class MonitoringSection(_Strict):
    """Alert rules over a monitoring window (``tailorkit.loop.alerts``) and where alerts go."""

    drift_psi: float = Field(0.2, gt=0, description="a feature (or the score) drifts past this PSI")
    min_rows: int = Field(500, ge=1, description="drift rules need this many rows in the window")
    metric_drop: float = Field(
        0.03, ge=0, description="alert when a realised metric falls this far below its reference"
    )
    dataset_drift_share: float = Field(
        0.5, gt=0, le=1, description="dataset drift: this share of the features drifted"
    )
    webhook: str | None = Field(None, description="http(s) URL each alert is POSTed to as JSON")
    webhook_retries: int = Field(3, ge=0, le=10, description="tries after the first one")
    webhook_timeout_s: float = Field(5.0, gt=0, le=60, description="seconds per try")
    cooldown: str = Field("6h", description="one alert per rule and project per this long")

    @field_validator("webhook")
    @classmethod
    def _webhook_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.strip()

    @field_validator("cooldown")
    @classmethod
    def _cooldown_is_duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @property
    def cooldown_s(self) -> float:
        return duration_seconds(self.cooldown)


class SpecBase(_Strict):
    """What every solution's spec has: a name, the solution, requirements, the promotion
    floor, monitoring's alert rules, a workspace.

    Each solution subclasses this (its ``spec_class``) with its own data and model sections;
    requirement lines are checked against the solution's ``metrics`` when resolving.
    """

    name: str
    solution: str
    requirements: list[str] = []
    promotion: PromotionSection = PromotionSection()
    monitoring: MonitoringSection = MonitoringSection()
    workspace: str = ".tailorkit"

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError("use letters, digits, '-', '_' or '.' (it names the model)")
        return value


class DataSection(_Strict):
    train: str = Field(description="file path or SQLAlchemy URL of the training table")
    table: str | None = None
    query: str | None = None
    sheet: str | int | None = None
    unlabeled: str | None = Field(None, description="extra rows without labels (pretraining)")
    encoding: str = "utf-8"
    key: str | None = Field(None, description="row identifier, passed through to predictions")


class FeaturesSection(_Strict):
    protected: list[str] = []
    exclude_protected: bool = True
    personal: list[str] = Field(
        [],
        description="columns identifying a person (name, e-mail, phone): never stored by the "
        "service as sent, only as an HMAC-SHA256 under the workspace secret",
    )
    drop: list[str] = []
    types: dict[str, Literal["numeric", "categorical", "boolean", "datetime", "text", "id"]] = {}


class ModelEntry(_Strict):
    name: str
    family: str
    params: dict[str, Any] = {}


class EvaluationSection(_Strict):
    protocol: Literal["kfold", "holdout"] = "kfold"
    folds: int = Field(5, ge=2, le=20)
    holdout_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    seed: int = 0
    metric: str = "auc"
    bootstrap: int = Field(1000, ge=0)
    pretraining_ablation: bool = Field(
        False, description="also train each transformer with pretraining flipped (report table)"
    )
    n_jobs: int | None = Field(
        None, ge=1, description="fold processes for neural candidates (default: one per core)"
    )


class CostSection(_Strict):
    false_negative: float = 1.0
    false_positive: float = 1.0
    true_positive: float = 0.0
    true_negative: float = 0.0


class DeploySection(_Strict):
    compress: Literal["none", "int8"] = "none"  # `tailorkit compress` without --methods:
    export: Literal["none", "onnx"] = "none"  # the variants named here (none, none: all)
    max_quality_drop: float = 0.005  # `tailorkit compress`: largest AUC loss a variant may have


class Spec(SpecBase):
    """The tabular spec (credit risk): one labeled table, a binary target."""

    solution: Literal["credit_risk"]
    data: DataSection
    target: str
    positive_label: str | int | bool | None = None
    features: FeaturesSection = FeaturesSection()
    models: list[ModelEntry | str] = []
    evaluation: EvaluationSection = EvaluationSection()
    cost: CostSection | None = None
    ensemble: bool = True
    deploy: DeploySection = DeploySection()

    def model_entries(self) -> list[ModelEntry]:
        """Models as entries; a bare family name becomes an entry with default params."""
        return [
            m if isinstance(m, ModelEntry) else ModelEntry(name=m, family=m) for m in self.models
        ]


# ------------------------------------------------------------------ reading
def read_spec_file(path: str | Path) -> tuple[dict[str, Any], dict[tuple, int]]:
    """A spec file's mapping and the line of every key (for error messages)."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"spec file '{path}' not found; create one with `tailorkit init`")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        user = yaml.safe_load(text) or {}
        lines = _key_lines(text)
    except yaml.YAMLError as error:
        line, problem = _yaml_problem(error, text)
        raise SpecError(f"{path}{f' line {line}' if line else ''}: {problem}") from None
    except RecursionError:
        raise SpecError(
            f"{path}: values are nested too deeply to read; a spec needs only a few levels"
        ) from None
    if not isinstance(user, dict):
        raise SpecError(
            f"{path}: the spec must be a mapping of keys (name:, solution:, data:, ...)"
        )
    return user, lines


def _yaml_problem(error: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    """(line, ``not valid YAML (what is wrong)``) on one line; no line if YAML gives none."""
    if isinstance(error, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, error.position) + 1
        character = ascii(chr(error.character)) if isinstance(error.character, int) else "?"
        return line, f"not valid YAML (character {character} is not allowed; remove it)"
    mark = getattr(error, "problem_mark", None)
    context = getattr(error, "context_mark", None)
    began = f"; {error.context} at line {context.line + 1}" if context else ""
    problem = " ".join(str(getattr(error, "problem", None) or error).split())
    return (mark.line + 1 if mark else None), f"not valid YAML ({problem}{began})"


def layer(
    defaults: dict[str, Any], user: dict[str, Any], overrides: list[str] | None = None
) -> dict[str, Any]:
    """RecBole-style layers, later wins: solution defaults, the user's mapping, then the
    command line's ``key.sub=value`` overrides."""
    merged = _deep_merge(defaults, user)
    for override in overrides or []:
        _apply_override(merged, override)
    return merged


def validate(
    spec_class: type[SpecBase],
    merged: dict[str, Any],
    source: str = "spec",
    lines: dict[tuple, int] | None = None,
) -> SpecBase:
    """The validated spec; a mistake is a ``SpecError`` naming the field and its line."""
    try:
        return spec_class.model_validate(merged)
    except ValidationError as error:
        raise SpecError(_describe(error, source, lines or {})) from None


def _describe(error: ValidationError, source: str, lines: dict[tuple, int]) -> str:
    first = error.errors()[0]
    location = tuple(p for p in first["loc"] if not isinstance(p, str) or not p[:1].isupper())
    location = tuple(p for p in location if p not in ("str", "ModelEntry", "function-after"))
    field = ".".join(str(p) for p in location) or "(top level)"
    line = _closest_line(location, lines)
    where = f"{source} line {line}" if line else source
    kind = first["type"]
    if kind == "extra_forbidden":
        return (
            f"{where}: unknown key '{field}'; check the spelling (see `tailorkit validate --show`)"
        )
    if kind == "missing":
        return f"{where}: required key '{field}' is missing"
    message = first["msg"].removeprefix("Value error, ")
    if not location:  # a check across fields: its message names the field it is about
        line = lines.get(tuple(message.split(" ", 1)[0].split(".")))
        return f"{source} line {line}: {message}" if line else f"{where}: {message}"
    return f"{where}: field '{field}': {message} (got {shown_value(first.get('input'))})"


def _closest_line(location: tuple, lines: dict[tuple, int]) -> int | None:
    for size in range(len(location), 0, -1):
        if location[:size] in lines:
            return lines[location[:size]]
    return None


def _key_lines(text: str) -> dict[tuple, int]:
    """Map every key path (and list index) in the YAML to its 1-based line."""
    found: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                found[path + (key.value,)] = key.start_mark.line + 1
                walk(value, path + (key.value,))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                found[path + (index,)] = item.start_mark.line + 1
                walk(item, path + (index,))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return found


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _apply_override(merged: dict[str, Any], override: str) -> None:
    shown = shown_value(override)  # quoted, cut short, a lone surrogate escaped
    if "=" not in override:
        raise SpecError(f"override {shown} must look like key.sub=value")
    dotted, raw = override.split("=", 1)
    target = merged
    keys = dotted.strip().split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            raise SpecError(f"override {shown}: {shown_value(key)} is not a section")
    try:
        target[keys[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise SpecError(f"override {shown}: the value is {_yaml_problem(error, raw)[1]}") from None
    except RecursionError:
        raise SpecError(f"override {shown}: the value is nested too deeply") from None


def dump_spec(resolved: dict[str, Any]) -> str:
    """The resolved spec as YAML, in the order of the schema."""
    return yaml.safe_dump(resolved, sort_keys=False, default_flow_style=False)
