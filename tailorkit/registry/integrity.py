"""Checking an artifact folder against what was recorded when it was registered.

Each stored artifact has a manifest: the SHA-256 of every file, by its path relative to the
folder. The artifact's own SHA (its folder name, ``artifact_sha``) is the SHA-256 over that
manifest, so a manifest row cannot be edited to match changed files without changing the
artifact's SHA too. A file changed, missing or added after registration is named in the error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tailorkit.errors import RegistryError


class ArtifactMismatch(RegistryError):
    """An artifact's files differ from the manifest recorded at registration."""


def file_sha(path: Path) -> str:
    """SHA-256 of one file's bytes (read in 1 MiB blocks)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def folder_files(folder: Path) -> list[str]:
    """The folder's regular files as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def manifest_of(folder: Path, files: list[str]) -> dict[str, str]:
    """``{relative path: SHA-256}`` of the given files."""
    return {relative: file_sha(folder / relative) for relative in files}


def manifest_sha(manifest: dict[str, str]) -> str:
    """The artifact's SHA: SHA-256 over each file's relative path and the SHA-256 of its bytes."""
    digest = hashlib.sha256()
    for relative in sorted(manifest):
        digest.update(f"{relative}\0{manifest[relative]}\n".encode())
    return digest.hexdigest()


def dump_manifest(manifest: dict[str, str]) -> str:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"))


def check_folder(folder: Path, sha: str, manifest_json: str | None, name: str) -> None:
    """Raise ``ArtifactMismatch`` naming the first file that differs from the manifest
    (without one, from the recorded SHA of the whole folder). ``name``: ``project:version``."""
    refuse = "; refusing to load it (re-register the model, or restore the file)"
    if not folder.is_dir():
        raise ArtifactMismatch(f"artifact of {name} is missing (folder artifacts/{sha})")
    files = folder_files(folder)
    if manifest_json is None:
        if manifest_sha(manifest_of(folder, files)) != sha:
            raise ArtifactMismatch(
                f"artifact of {name} does not match its recorded SHA-256 (it was registered "
                f"before per-file manifests, so the changed file is not known){refuse}"
            )
        return
    manifest = json.loads(manifest_json)
    if manifest_sha(manifest) != sha:
        raise ArtifactMismatch(f"the recorded manifest of {name} was altered{refuse}")
    for relative in sorted(set(manifest) | set(files)):
        if relative not in files:
            raise ArtifactMismatch(f"artifact of {name}: file {relative} is missing{refuse}")
        if relative not in manifest:
            raise ArtifactMismatch(
                f"artifact of {name}: file {relative} was added after registration{refuse}"
            )
        found = file_sha(folder / relative)
        if found != manifest[relative]:
            raise ArtifactMismatch(
                f"artifact of {name}: file {relative} was changed after registration "
                f"(SHA-256 {found[:12]}…, recorded {manifest[relative][:12]}…){refuse}"
            )
