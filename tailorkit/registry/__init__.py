"""The workspace registry: runs, model versions, aliases with an audit log, artifacts."""

from __future__ import annotations

from tailorkit.errors import RegistryError
from tailorkit.registry.actors import command_actor
from tailorkit.registry.store import ModelVersion, Registry

__all__ = ["ModelVersion", "Registry", "RegistryError", "command_actor"]
