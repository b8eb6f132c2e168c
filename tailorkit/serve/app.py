"""The HTTP service: FastAPI app with tenants, A/B routing, feedback, health and metrics.

``create_app(ServiceSettings(...))`` builds the app; ``tailorkit serve`` runs it with uvicorn.
Every response (errors included) carries ``request_id`` and ``model_version``; errors are one
JSON object ``{"error": "...", "request_id": ..., "model_version": ...}``. The routes live in
``serve/routes/`` (one router per concern), the shared state in ``serve/service.py``, what
routes are handed in ``serve/dependencies.py``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from tailorkit.serve.errors import ServiceError, install_error_handlers
from tailorkit.serve.middleware import RequestMiddleware
from tailorkit.serve.routes import (
    docs,
    experiments,
    feedback,
    health,
    monitoring,
    predict,
    projects,
)
from tailorkit.serve.service import Service
from tailorkit.serve.settings import ServiceSettings

__all__ = ["Service", "ServiceError", "ServiceSettings", "create_app"]

# The scoring routes first: a request tries the routes in order, and these are the hot ones.
ROUTERS = (
    predict.router,
    health.router,
    projects.router,
    experiments.router,
    monitoring.router,
    feedback.router,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The FastAPI app for one workspace."""
    service = Service(settings or ServiceSettings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        service.spawn(service.start())
        yield
        await service.stop()

    app = FastAPI(
        title="tailorkit model service",
        version="1",
        lifespan=lifespan,
        description="Scores, recommendations and RUL per tenant, with A/B routing and feedback.",
        docs_url=None,  # /docs and /redoc are served offline by routes/docs.py
        redoc_url=None,
    )
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(RequestMiddleware, service=service)
    for router in (*ROUTERS, docs.router):
        add_routes(app, router)
    docs.mount_assets(app)  # after the routes: API requests never try the mount first
    return app


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, added to the app one by one.

    ``app.include_router`` adds one lazy node since FastAPI 0.137 that matches each request
    against its routes twice (more work on every request), and ``app.routes`` then holds that
    node, without ``.path``, instead of the routes. A router here has no prefix or
    dependencies of its own (its tags are already on its routes), so its routes serve as they
    are; ``app.dependency_overrides`` does not reach them."""
    assert not router.prefix and not router.dependencies, "add_routes copies routes as they are"
    app.router.routes.extend(router.routes)
