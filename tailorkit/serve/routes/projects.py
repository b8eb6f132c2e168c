"""The calling tenant's projects: solution, versions, aliases and experiments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tailorkit.registry import Registry
from tailorkit.serve.dependencies import CallerDep, ProjectDep
from tailorkit.serve.responses import answer
from tailorkit.serve.schemas import AUTHENTICATED, WITH_PROJECT, error_responses

router = APIRouter(tags=["projects"], responses=error_responses(*AUTHENTICATED))


@router.get("/v1/projects")
async def list_projects(request: Request, caller: CallerDep) -> JSONResponse:
    """The calling tenant's projects with their aliases."""
    service = caller.service
    names = sorted(await service.projects_of(caller.tenant))
    projects = await service.run_io(describe_projects, service.registry, names)
    return answer(request, {"projects": projects})


@router.get("/v1/projects/{project}", responses=error_responses(*WITH_PROJECT))
async def get_project(project: ProjectDep, request: Request, caller: CallerDep) -> JSONResponse:
    """One project: solution, versions, aliases, experiments."""
    service = caller.service
    described = await service.run_io(describe_projects, service.registry, [project])
    experiments = await service.run_io(service.store.experiments, project)
    body = {**described[0], "experiments": [e.as_dict() for e in experiments]}
    return answer(request, body)


def describe_projects(registry: Registry, names: list[str]) -> list[dict[str, Any]]:
    """Solution, versions and aliases of each named project the registry knows."""
    listed = {p["name"]: p for p in registry.projects()}
    return [
        {
            "name": name,
            "solution": listed[name]["solution"],
            "versions": listed[name]["versions"],
            "aliases": registry.aliases(name),
        }
        for name in names
        if name in listed
    ]
