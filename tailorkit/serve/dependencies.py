"""What routes are handed through ``Depends``: the Service, the authenticated caller (a tenant,
or an operator on the operations routes), its project.

A key, a tenant's or an operator's, travels in ``X-API-Key`` or as ``Authorization: Bearer
<key>``; both are declared as FastAPI security schemes (so ``/openapi.json`` and ``/docs`` know
them) with ``auto_error=False``, so a missing or wrong key gets the service's own 401 line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tailorkit.serve.events import Tenant
from tailorkit.serve.operators import Operator
from tailorkit.serve.service import Service

api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="A tenant's API key (`tailorkit tenants create`); on /metrics and for the "
    "details of /readyz, an operator key (`tailorkit operators create`).",
    auto_error=False,
)
bearer_token = HTTPBearer(
    scheme_name="Bearer",
    description="The same key as `Authorization: Bearer <key>` (what Prometheus sends).",
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


ApiKeyDep = Annotated[str | None, Depends(api_key_header)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_token)]


def key_of(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    """The key that came with the request (X-API-Key wins over a bearer token), or None."""
    return api_key.strip() if api_key else (bearer.credentials if bearer else None)


async def authenticate(request: Request, api_key: ApiKeyDep, bearer: BearerDep) -> Caller:
    """The tenant whose key came with the request.

    The service comes with it, so a scoring route solves one dependency, not two."""
    service = service_of(request)
    return Caller(service, await service.tenant_of(key_of(api_key, bearer), request))


CallerDep = Annotated[Caller, Depends(authenticate)]


async def operator(request: Request, api_key: ApiKeyDep, bearer: BearerDep) -> Operator:
    """The operator whose key came with the request (401 without one, 403 for a tenant's)."""
    return await service_of(request).operator_of(key_of(api_key, bearer))


async def operator_if_any(
    request: Request, api_key: ApiKeyDep, bearer: BearerDep
) -> Operator | None:
    """The operator whose key came with the request; None for no key or any other key."""
    return await service_of(request).operator_or_none(key_of(api_key, bearer))


OperatorDep = Annotated[Operator, Depends(operator)]
MaybeOperatorDep = Annotated[Operator | None, Depends(operator_if_any)]


async def caller_project(project: str, request: Request, caller: CallerDep) -> str:
    """The path's project, when it belongs to the calling tenant (404 otherwise).

    Only for routes with nothing else to validate: FastAPI runs dependencies before it checks
    a body or query parameters, so a route with those calls ``Service.check_project`` itself,
    and a bad request stays a 422 (or 400) whatever the project."""
    await caller.service.check_project(caller.tenant, project, request)
    return project


ProjectDep = Annotated[str, Depends(caller_project)]
