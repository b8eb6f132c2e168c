"""Serving: the multi-tenant HTTP model service, A/B routing, feedback, compression, export."""

from __future__ import annotations

__all__ = ["ServiceSettings", "create_app"]


def __getattr__(name: str):
    if name in __all__:
        from tailorkit.serve import app  # lazy: FastAPI, for `tailorkit --help`

        return getattr(app, name)
    raise AttributeError(name)
