"""What routes are handed through ``Depends``: the Service, the authenticated caller, its project.

The API key travels in ``X-API-Key`` or as ``Authorization: Bearer <key>``; both are declared
as FastAPI security schemes (so ``/openapi.json`` and ``/docs`` know them) with
``auto_error=False``, so a missing or wrong key gets the service's own 401 line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tailorkit.serve.events import Tenant
from tailorkit.serve.service import Service

api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="The tenant's API key (`tailorkit tenants create`).",
    auto_error=False,
)
bearer_token = HTTPBearer(
    scheme_name="Bearer",
    description="The same API key as `Authorization: Bearer <key>`.",
    auto_error=False,
)


def service_of(request: Request) -> Service:
    return request.app.state.service


async def get_service(request: Request) -> Service:
    """The app's Service (one per ``create_app``)."""
    return service_of(request)


ServiceDep = Annotated[Service, Depends(get_service)]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request's tenant, and the service answering it."""

    service: Service
    tenant: Tenant


async def authenticate(
    request: Request,
    api_key: Annotated[str | None, Depends(api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_token)],
) -> Caller:
    """The caller whose key came with the request (X-API-Key wins over a bearer token).

    The service comes with it, so a scoring route solves one dependency, not two."""
    service = service_of(request)
    key = api_key.strip() if api_key else (bearer.credentials if bearer else None)
    return Caller(service, await service.tenant_of(key, request))


CallerDep = Annotated[Caller, Depends(authenticate)]


async def caller_project(project: str, request: Request, caller: CallerDep) -> str:
    """The path's project, when it belongs to the calling tenant (404 otherwise).

    Only for routes with nothing else to validate: FastAPI runs dependencies before it checks
    a body or query parameters, so a route with those calls ``Service.check_project`` itself,
    and a bad request stays a 422 (or 400) whatever the project."""
    await caller.service.check_project(caller.tenant, project, request)
    return project


ProjectDep = Annotated[str, Depends(caller_project)]
