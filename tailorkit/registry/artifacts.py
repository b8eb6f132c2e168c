"""Model artifacts, stored once per content: a folder is copied to ``artifacts/<sha>``, the
SHA-256 over its files' relative paths and contents, atomically (concurrent writers of the same
content agree on one folder). The per-file manifest it returns is what loading checks against
(``integrity``)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from tailorkit.errors import RegistryError
from tailorkit.registry.integrity import folder_files, manifest_of, manifest_sha

ARTIFACTS_FOLDER = "artifacts"


def store_artifact(artifacts: Path, model_dir: Path) -> tuple[str, dict[str, str]]:
    """Copy ``model_dir`` to ``artifacts/<sha>`` atomically (once per content); return the sha
    and the manifest (``{relative path: SHA-256}``) it was computed from."""
    files = files_of(model_dir)
    manifest = manifest_of(model_dir, files)
    sha = manifest_sha(manifest)
    target = artifacts / sha
    if target.is_dir():
        return sha, manifest
    staging = artifacts / f".tmp-{uuid.uuid4().hex}"
    try:
        for relative in files:
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model_dir / relative, destination)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # another writer won the race only if target exists
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sha, manifest


def files_of(model_dir: Path) -> list[str]:
    """The folder's regular files as sorted POSIX paths relative to it."""
    if not model_dir.is_dir():
        raise RegistryError(f"model folder {model_dir} does not exist or is not a folder")
    files = folder_files(model_dir)
    if not files:
        raise RegistryError(f"model folder {model_dir} is empty; save the model into it first")
    return files
