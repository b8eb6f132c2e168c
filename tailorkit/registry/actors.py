"""Who an audit row names: the login of the process, and the command line it ran."""

from __future__ import annotations

import getpass


def current_user() -> str:
    """The login name of this process (``unknown`` when it has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def command_actor(command: str) -> str:
    """The actor a command line audits: ``alice (tailorkit predict)``."""
    return f"{current_user()} (tailorkit {command})"
