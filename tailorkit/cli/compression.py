"""Compression commands: ``compress`` (smaller, faster variants with a trade-off table) and
``export --edge`` (a bundle that scores without tailorkit)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.cli.common import JsonOption, WorkspaceOption, registry_of, verified_version
from tailorkit.console import out, say
from tailorkit.errors import GateFailed, TailorkitError


def compress(
    model: str = typer.Argument(..., help="name@alias, name:version or name."),
    spec: Path = typer.Option(Path("tailorkit.yaml"), "--spec", "-s", help="The project spec."),
    methods: str | None = typer.Option(
        None,
        "--methods",
        help="Comma-separated: onnx,int8,prune,distill (default: the spec's deploy.compress "
        "and deploy.export, or all four when both are none).",
    ),
    alias: str | None = typer.Option(
        None, "--alias", "-a", help="Point this alias at the chosen variant (e.g. challenger)."
    ),
    enforce: bool = typer.Option(
        False, "--enforce", help="Exit 1 when no variant meets max_quality_drop / p99 latency."
    ),
    register: bool = typer.Option(True, "--register/--no-register"),
    workspace: Path | None = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Quantize, prune, distill and export a model; trade-off table; the spec's limits apply."""
    from tailorkit.report.compression_report import TABLE_COLUMNS
    from tailorkit.solutions import get_solution
    from tailorkit.solutions.specs import load_spec

    registry = registry_of(workspace)
    version = verified_version(registry, model, "compress")
    parsed, _ = load_spec(spec)
    if parsed.name != version.project:
        raise TailorkitError(
            f"{spec} is the spec of '{parsed.name}', not of '{version.project}'; pass --spec"
        )
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip()) if methods else None
    document = get_solution(parsed.solution).compress(
        registry,
        version,
        parsed,
        spec.resolve().parent,
        methods=chosen,
        alias=alias,
        register=register,
        say=say,
    )
    if as_json:
        out.print(json.dumps(document), markup=False, highlight=False, soft_wrap=True)
    else:
        _print_variants(document, TABLE_COLUMNS)
    if enforce and document["chosen"] is None:
        raise GateFailed(
            f"no variant of {document['source']} keeps the quality drop within "
            f"{document['max_quality_drop']} and p99 latency within "
            f"{document['p99_latency_ms_limit'] or 'any'} ms; see {document['report']}"
        )


def export(
    model: str = typer.Argument(..., help="name@alias, name:version or name."),
    edge: Path = typer.Option(..., "--edge", help="Folder for the edge bundle (new or empty)."),
    workspace: Path | None = WorkspaceOption,
) -> None:
    """Write an edge bundle: ONNX model, preprocessing JSON, a numpy + onnxruntime runner."""
    from tailorkit.solutions import get_solution

    registry = registry_of(workspace)
    version = verified_version(registry, model, "export")
    solution = get_solution(registry.solution_of(version.project), "registry")
    bundle = solution.export_edge(version, edge)
    out.print(str(bundle), markup=False, highlight=False, soft_wrap=True)


def _print_variants(document: dict, columns: list[str]) -> None:
    table = Table(title=escape(f"Compression of {document['source']}"))
    for column in columns:
        if column != "description":
            table.add_column(column)
    for row in document["variants"]:
        table.add_row(*[escape(_cell(row[c])) for c in columns if c != "description"])
    out.print(table)
    out.print(
        f"chosen: {document['chosen'] or 'none'}; registered: {document['registered'] or '-'}; "
        f"report: {document['report']}",
        markup=False,
    )


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)
