"""Serving: the multi-tenant HTTP model service, A/B routing, feedback, compression, export."""

from __future__ import annotations

from tailorkit.optional import require

__all__ = ["ServiceSettings", "create_app"]
SERVICE_MODULES = ("fastapi", "starlette", "orjson", "prometheus_client")  # what app.py imports


def __getattr__(name: str):
    if name in __all__:
        require(*SERVICE_MODULES, extra="serve", feature="the tailorkit service")
        from tailorkit.serve import app  # lazy: FastAPI, for `tailorkit --help`

        return getattr(app, name)
    raise AttributeError(name)
