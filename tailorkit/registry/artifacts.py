"""Model artifacts, stored once per content: a folder is copied to ``artifacts/<sha>``, the
SHA-256 over its files' relative paths and contents, atomically (concurrent writers of the same
content agree on one folder)."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from tailorkit.errors import RegistryError

ARTIFACTS_FOLDER = "artifacts"


def store_artifact(artifacts: Path, model_dir: Path) -> str:
    """Copy ``model_dir`` to ``artifacts/<sha>`` atomically (once per content); return sha."""
    files = files_of(model_dir)
    sha = content_sha(model_dir, files)
    target = artifacts / sha
    if target.is_dir():
        return sha
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
    return sha


def files_of(model_dir: Path) -> list[str]:
    """The folder's regular files as sorted POSIX paths relative to it."""
    if not model_dir.is_dir():
        raise RegistryError(f"model folder {model_dir} does not exist or is not a folder")
    files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())
    if not files:
        raise RegistryError(f"model folder {model_dir} is empty; save the model into it first")
    return files


def content_sha(model_dir: Path, files: list[str]) -> str:
    """SHA-256 over each file's relative path and the SHA-256 of its bytes."""
    digest = hashlib.sha256()
    for relative in files:
        file_digest = hashlib.sha256()
        with open(model_dir / relative, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                file_digest.update(block)
        digest.update(f"{relative}\0{file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()
