"""A project's A/B and shadow experiments: units, exposures and feedback per arm; analysis."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from tailorkit.loop.decision import Rule
from tailorkit.loop.experiment_analysis import parse_metric
from tailorkit.serve import experiment_data as data
from tailorkit.serve.dependencies import CallerDep, ProjectDep
from tailorkit.serve.errors import ServiceError
from tailorkit.serve.experiment_decisions import planned_analysis
from tailorkit.serve.responses import answer
from tailorkit.serve.schemas import AUTHENTICATED, WITH_PROJECT, error_responses

router = APIRouter(tags=["experiments"], responses=error_responses(*AUTHENTICATED, *WITH_PROJECT))


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
    primary: Annotated[
        str | None, Query(description="NAME[:higher|lower]; default: the experiment's plan")
    ] = None,
    guardrail: Annotated[list[str], Query(description="NAME[:lower|higher], repeat")] = [],  # noqa: B006
    method: Annotated[Literal["sequential", "fixed"], Query()] = "sequential",
    min_units: Annotated[int, Query(ge=2, le=10**9)] = 1000,
    min_duration: Annotated[float, Query(ge=0, le=10**9)] = 0.0,
) -> JSONResponse:
    """SRM, each metric's lift with its interval, and the decision (`ship`, `keep`, `continue`,
    `invalid`), as `tailorkit experiments analyze --json` gives them."""
    service = caller.service
    await service.check_project(caller.tenant, project, request)
    metrics = [
        *([parse_metric(primary, field="query.primary")] if primary is not None else []),
        *(parse_metric(g, guardrail=True, field="query.guardrail") for g in guardrail),
    ]
    rule = Rule(min_units=min_units, min_duration_s=min_duration)

    def analyse() -> dict[str, Any]:
        found = [e for e in service.store.experiments(project) if e.id == experiment_id]
        if not found:
            raise ServiceError(404, f"no experiment {experiment_id} in project '{project}'")
        if primary is None:  # the plan's metrics and rule (read only: GET stores nothing)
            return planned_analysis(service.store, found[0], method=method)
        return data.experiment_analysis(
            service.store,
            found[0],
            primary=metrics[0],
            guardrails=metrics[1:],
            rule=rule,
            method=method,
        )

    return answer(request, await service.run_io(analyse))
