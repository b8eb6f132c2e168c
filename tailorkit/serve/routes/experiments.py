"""A project's A/B and shadow experiments with units, exposures and feedback per arm."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tailorkit.serve.dependencies import CallerDep, ProjectDep
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
