"""Damaged artifact files for the fault suite: truncated, bit-flipped, swapped for another
model's file; and a copy of a registered artifact with one file damaged."""

from __future__ import annotations

import shutil
from pathlib import Path


def weights_file(folder: Path) -> Path:
    """The artifact's largest file (LightGBM text, safetensors, ONNX): its weights."""
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04
    path.write_bytes(bytes(data))


def swap_with(path: Path, other_folder: Path, root: Path | None = None) -> None:
    """Replace ``path`` by the file at the same place in another model's folder (``root``:
    the folder ``path`` lies in, when it is nested, e.g. ``rul/point.txt``)."""
    source = other_folder / path.relative_to(root or path.parent)
    if source.read_bytes() == path.read_bytes():
        raise AssertionError(f"{source} equals {path}: swapping them changes nothing")
    shutil.copyfile(source, path)


def distinct_copy(source: Path, target: Path, note: str) -> Path:
    """A copy of a model folder whose content (hence artifact) is its own."""
    shutil.copytree(source, target)
    (target / "note.txt").write_text(note)
    return target
