"""Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served offline.

FastAPI's own pages load their scripts from a public CDN, so they are blank without internet.
These pages load them from the installed ``fastapi-offline`` package instead (Swagger UI 5,
which renders OpenAPI 3.1, and ReDoc 2), mounted under ``/docs/static``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/static"
ASSETS_PACKAGE = ("fastapi_offline", "static")

router = APIRouter(include_in_schema=False)


def mount_assets(app: FastAPI) -> None:
    """Swagger UI's and ReDoc's files under ``/docs/static``; the app is built with
    ``docs_url=None`` and ``redoc_url=None`` so that this router's pages replace FastAPI's."""
    app.mount(ASSETS, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")


@router.api_route("/docs", methods=["GET", "HEAD"])
async def swagger_ui(request: Request) -> HTMLResponse:
    """FastAPI's Swagger UI page, its scripts from this server."""
    root = _root(request)
    app = request.app
    redirect = app.swagger_ui_oauth2_redirect_url
    return get_swagger_ui_html(
        openapi_url=root + app.openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
        oauth2_redirect_url=root + redirect if redirect else None,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


@router.api_route("/docs/oauth2-redirect", methods=["GET", "HEAD"])
async def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (as FastAPI serves it)."""
    return get_swagger_ui_oauth2_redirect_html()


@router.api_route("/redoc", methods=["GET", "HEAD"])
async def redoc(request: Request) -> HTMLResponse:
    """FastAPI's ReDoc page, its script from this server and no web fonts."""
    root = _root(request)
    app = request.app
    return get_redoc_html(
        openapi_url=root + app.openapi_url,
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")
