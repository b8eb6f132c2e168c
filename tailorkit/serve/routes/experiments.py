"""A project's A/B and shadow experiments: units, exposures and feedback per arm; analysis;
the HTML report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from tailorkit.loop.decision import Rule
from tailorkit.loop.experiment_analysis import parse_metric
from tailorkit.report.experiment_report import render_experiment_report
from tailorkit.serve import experiment_data as data
from tailorkit.serve.dependencies import CallerDep, ProjectDep
from tailorkit.serve.errors import ServiceError
from tailorkit.serve.experiment_decisions import plan_options, planned_analysis
from tailorkit.serve.experiment_report_data import report_document
from tailorkit.serve.records import Experiment
from tailorkit.serve.responses import answer
from tailorkit.serve.schemas import AUTHENTICATED, WITH_PROJECT, error_responses

router = APIRouter(tags=["experiments"], responses=error_responses(*AUTHENTICATED, *WITH_PROJECT))
PrimaryQuery = Annotated[
    str | None, Query(description="NAME[:higher|lower]; default: the experiment's plan")
]
GuardrailQuery = Annotated[list[str], Query(description="NAME[:lower|higher], repeat")]
MethodQuery = Annotated[Literal["sequential", "fixed"], Query()]
MinUnitsQuery = Annotated[int, Query(ge=2, le=10**9)]
MinDurationQuery = Annotated[float, Query(ge=0, le=10**9)]


@router.get("/v1/projects/{project}/experiments")
async def list_experiments(
    project: ProjectDep, request: Request, caller: CallerDep
) -> JSONResponse:
    """The project's experiments with units, exposures and feedback per arm."""
    store = caller.service.store

    def collect() -> list[dict[str, Any]]:
        return [
            {**e.as_dict(), "arms_summary": store.experiment_summary(e.id)}
            for e in store.experiments(project)
        ]

    return answer(request, {"experiments": await caller.service.run_io(collect)})


@router.get("/v1/projects/{project}/experiments/{experiment_id}/analysis")
async def experiment_analysis(
    project: str,
    experiment_id: int,
    request: Request,
    caller: CallerDep,
    primary: PrimaryQuery = None,
    guardrail: GuardrailQuery = [],  # noqa: B006
    method: MethodQuery = "sequential",
    min_units: MinUnitsQuery = 1000,
    min_duration: MinDurationQuery = 0.0,
) -> JSONResponse:
    """SRM, each metric's lift with its interval, and the decision (`ship`, `keep`, `continue`,
    `invalid`), as `tailorkit experiments analyze --json` gives them."""
    service = caller.service
    await service.check_project(caller.tenant, project, request)
    named = _named_options(primary, guardrail, min_units, min_duration)

    def analyse() -> dict[str, Any]:
        experiment = _experiment_of(service.store, project, experiment_id)
        if named is None:  # the plan's metrics and rule (read only: GET stores nothing)
            return planned_analysis(service.store, experiment, method=method)
        return data.experiment_analysis(service.store, experiment, **named, method=method)

    return answer(request, await service.run_io(analyse))


@router.get(  # the page is HTML; its errors are JSON like every other route's
    "/v1/projects/{project}/experiments/{experiment_id}/report",
    responses={200: {"description": "The report page.", "content": {"text/html": {}}}},
)
async def experiment_report(
    project: str,
    experiment_id: int,
    request: Request,
    caller: CallerDep,
    primary: PrimaryQuery = None,
    guardrail: GuardrailQuery = [],  # noqa: B006
    method: MethodQuery = "sequential",
    min_units: MinUnitsQuery = 1000,
    min_duration: MinDurationQuery = 0.0,
    points: Annotated[int, Query(ge=1, le=200, description="looks in the lift plot")] = 20,
) -> HTMLResponse:
    """The experiment's report as one self-contained HTML page (`tailorkit experiments
    report`): plan, decision, SRM, units, metrics, stored decisions, lift over time."""
    service = caller.service
    await service.check_project(caller.tenant, project, request)
    named = _named_options(primary, guardrail, min_units, min_duration)

    def build() -> str:
        experiment = _experiment_of(service.store, project, experiment_id)
        options = named or plan_options(experiment)
        document = report_document(
            service.store, experiment, **options, method=method, points=points
        )
        return render_experiment_report(document)

    return HTMLResponse(await service.run_io(build))


def _experiment_of(store, project: str, experiment_id: int) -> Experiment:
    """Experiment ``experiment_id`` of ``project`` (404 when the project has none such)."""
    found = [e for e in store.experiments(project) if e.id == experiment_id]
    if not found:
        raise ServiceError(404, f"no experiment {experiment_id} in project '{project}'")
    return found[0]


def _named_options(
    primary: str | None, guardrails: list[str], min_units: int, min_duration: float
) -> dict[str, Any] | None:
    """The metrics and rule named in the query (None without ``primary``: the plan's)."""
    parsed = [parse_metric(g, guardrail=True, field="query.guardrail") for g in guardrails]
    if primary is None:
        return None
    return {
        "primary": parse_metric(primary, field="query.primary"),
        "guardrails": parsed,
        "rule": Rule(min_units=min_units, min_duration_s=min_duration),
    }
