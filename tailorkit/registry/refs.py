"""Names in the registry: project names, aliases, and model references such as
``name@alias``, ``name:3``, ``name/3`` or ``name``."""

from __future__ import annotations

import re

from tailorkit.errors import RegistryError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """Split a model reference into (project, alias, version); one of the last two or none."""
    usage = "use name@alias, name:version, name/version or name"
    for separator in ("@", ":", "/"):
        if separator in ref:
            project, _, suffix = ref.partition(separator)
            break
    else:
        project, separator, suffix = ref, "", ""
    if not NAME_PATTERN.fullmatch(project):
        raise RegistryError(f"model reference {ref!r} is malformed; {usage}")
    if separator == "@":
        if not ALIAS_PATTERN.fullmatch(suffix):
            raise RegistryError(f"model reference {ref!r} has a malformed alias; {usage}")
        return project, suffix, None
    if separator:
        if not suffix.isascii() or not suffix.isdigit():
            raise RegistryError(f"model reference {ref!r} has a malformed version; {usage}")
        return project, None, int(suffix)
    return project, None, None


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise RegistryError(
            f"project name {name!r} is invalid; use letters, digits, '-', '_' or '.'"
        )


def check_alias(alias: str) -> None:
    if not ALIAS_PATTERN.fullmatch(alias):
        raise RegistryError(
            f"alias {alias!r} is invalid; use 1-64 letters, digits, '-' or '_' (e.g. champion)"
        )
