"""Patient records in several modalities: a table, clinical notes, images, visit sequences.

``PatientInputs`` holds one row per patient record, every modality aligned to those rows
(``None`` when the project has no such modality, a presence mask when some rows lack it).
The loaders here turn files into it and report what they had to do (missing or corrupt
image files, resized images, empty or over-long notes) as warnings and counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".npy")


@dataclass
class PatientInputs:
    """Aligned modalities for ``n_rows`` records."""

    tabular: pd.DataFrame
    notes: list[str] | None = None
    images: np.ndarray | None = None  # (n, size, size) float32 in [0, 1]
    image_present: np.ndarray | None = None  # (n,) bool
    visits: np.ndarray | None = None  # (n, max_visits, n_features) float32
    visit_lengths: np.ndarray | None = None  # (n,) int, 0 = no visits

    @property
    def n_rows(self) -> int:
        return len(self.tabular)

    def __len__(self) -> int:
        return self.n_rows

    def take(self, rows: np.ndarray) -> PatientInputs:
        rows = np.asarray(rows)
        return PatientInputs(
            tabular=self.tabular.iloc[rows],
            notes=None if self.notes is None else [self.notes[i] for i in rows],
            images=None if self.images is None else self.images[rows],
            image_present=None if self.image_present is None else self.image_present[rows],
            visits=None if self.visits is None else self.visits[rows],
            visit_lengths=None if self.visit_lengths is None else self.visit_lengths[rows],
        )

    def modalities(self) -> list[str]:
        present = ["tabular"] if self.tabular.shape[1] else []
        present += ["text"] if self.notes is not None else []
        present += ["image"] if self.images is not None else []
        present += ["visits"] if self.visits is not None else []
        return present

    def text_present(self) -> np.ndarray:
        return np.array([bool(note) for note in self.notes or []], dtype=bool)


@dataclass
class LoadReport:
    """What loading had to do, for the report and the console."""

    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, count: int, message: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + count
        if count:
            self.warnings.append(message)


# --------------------------------------------------------------------- notes
def join_notes(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """One note per row: the text columns joined (each prefixed by its name if several)."""
    parts = []
    for column in columns:
        values = frame[column].astype(object).where(frame[column].notna(), "")
        values = values.map(lambda v: str(v).strip())
        parts.append(values.map(lambda v, c=column: f"{c}: {v}" if v and len(columns) > 1 else v))
    if not parts:
        return []
    joined = parts[0]
    for other in parts[1:]:
        joined = joined.str.cat(other, sep="\n").str.strip()
    return joined.tolist()


def check_notes(notes: list[str], report: LoadReport) -> None:
    """Count empty notes (text treated as missing)."""
    empty = [i for i, note in enumerate(notes) if not note]
    report.add(
        "empty_notes",
        len(empty),
        f"{len(empty)} note(s) are empty (rows {_rows(empty)}): text treated as missing there",
    )


# -------------------------------------------------------------------- images
def as_image_batch(images: Any, size: int) -> np.ndarray:
    """(n, H, W) grey-scale as float32 in [0, 1], resized to ``size`` × ``size`` if needed."""
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[-1] in (1, 3):  # channels last
        array = array.mean(axis=-1)
    if array.ndim != 3:
        raise DataError(f"images must be an (n, height, width) array, got shape {array.shape}")
    scale = 255.0 if array.dtype == np.uint8 or float(np.nanmax(array, initial=0)) > 1.5 else 1.0
    array = np.nan_to_num(array.astype(np.float32) / scale)
    if array.shape[1:] != (size, size):
        import torch  # lazy: torch, only to resize
        from torch.nn import functional as F

        tensor = torch.from_numpy(array).unsqueeze(1)
        array = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
        array = array.squeeze(1).numpy()
    return array


def read_image(path: Path) -> np.ndarray:
    """One grey-scale image as a 2-D float array in [0, 1]; ``ValueError`` if unreadable."""
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                array = np.asarray(image.convert("L"))
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(str(error).split("\n")[0]) from None
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3:
        array = array.mean(axis=-1)
    if array.ndim != 2 or min(array.shape) < 2:
        raise ValueError(f"expected a 2-D image, got shape {array.shape}")
    return array / 255.0 if array.max() > 1.5 else array


def load_image_column(
    paths: pd.Series,
    *,
    base_dir: Path,
    column: str,
    size: int | None,
    report: LoadReport,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Images named in a path column: missing or corrupt files are flagged (modality
    missing for that row) and counted; sizes other than ``size`` are resized."""
    loaded: dict[int, np.ndarray] = {}
    missing, corrupt = [], []
    for row, value in enumerate(paths.tolist()):
        if value is None or value != value or not str(value).strip():
            missing.append(row)
            continue
        path = Path(str(value).strip()).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            missing.append(row)
            continue
        try:
            loaded[row] = read_image(path)
        except ValueError as error:
            corrupt.append(row)
            report.warnings.append(
                f"row {row + 1}: {column} file '{path}' is not a readable "
                f"image ({error}); image treated as missing"
            )
    report.add(
        "missing_images",
        len(missing),
        f"{len(missing)} row(s) have no {column} file (rows {_rows(missing)}): image treated "
        "as missing for them",
    )
    report.counts["corrupt_images"] = report.counts.get("corrupt_images", 0) + len(corrupt)
    return stack_images(loaded, len(paths), size, report)


def load_image_array(
    file: str, *, base_dir: Path, n_rows: int, size: int | None, report: LoadReport
) -> tuple[np.ndarray, np.ndarray, int]:
    """Images from a .npy / .npz array aligned with the table's rows (first axis)."""
    path = Path(file).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.exists():
        raise DataError(f"image array file '{path}' not found")
    try:
        data = np.load(path, allow_pickle=False)
        array = data[data.files[0]] if hasattr(data, "files") else data
    except (ValueError, OSError) as error:
        raise DataError(f"image array file '{path}' cannot be read ({error})") from None
    if array.ndim == 4 and array.shape[-1] in (1, 3):
        array = array.mean(axis=-1)
    if array.ndim != 3 or len(array) != n_rows:
        raise DataError(
            f"image array '{path}' has shape {array.shape}; expected ({n_rows}, height, "
            "width): one image per row of the table, in the same order"
        )
    array = array.astype(np.float32)
    array = array / 255.0 if array.max() > 1.5 else array
    present = np.isfinite(array).all(axis=(1, 2))
    return stack_images({i: array[i] for i in np.flatnonzero(present)}, n_rows, size, report)


def stack_images(
    loaded: dict[int, np.ndarray], n_rows: int, size: int | None, report: LoadReport
) -> tuple[np.ndarray, np.ndarray, int]:
    """(n, size, size) images (zeros where missing) and the presence mask; ``size``
    defaults to the most common side length."""
    shapes = Counter(image.shape for image in loaded.values())
    if size is None:
        size = max(shapes.most_common(1)[0][0]) if shapes else 28
    images = np.zeros((n_rows, size, size), dtype=np.float32)
    present = np.zeros(n_rows, dtype=bool)
    off_size = [shape for shape in shapes if shape != (size, size)]
    for row, image in loaded.items():
        images[row] = as_image_batch(image[None], size)[0]
        present[row] = True
    resized = sum(shapes[s] for s in off_size)
    sizes = ", ".join(f"{h}×{w}" for h, w in sorted(off_size)[:5])
    report.add(
        "resized_images",
        resized,
        f"{resized} image(s) of other sizes ({sizes}) were resized to {size}×{size}",
    )
    return images, present, size


# -------------------------------------------------------------------- visits
def load_visit_sequences(
    visits: pd.DataFrame,
    patients: pd.Series,
    *,
    patient_col: str,
    time_col: str,
    features: list[str] | None,
    max_visits: int,
    source: str,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(n, max_visits, k) numeric visit features per row's patient, ordered by time and
    keeping the latest ``max_visits``; rows whose patient has no visits get length 0."""
    for column in (patient_col, time_col):
        if column not in visits.columns:
            raise DataError(f"{source}: visit column '{column}' not found")
    if features is None:
        candidates = visits.drop(columns=[patient_col, time_col])
        features = [c for c in candidates.columns if pd.api.types.is_numeric_dtype(candidates[c])]
    if not features:
        raise DataError(f"{source}: the visits have no numeric feature columns")
    times = pd.to_datetime(visits[time_col], errors="coerce")
    if times.isna().all():
        times = pd.to_numeric(visits[time_col], errors="coerce")
    ordered = visits.assign(_time=times).sort_values([patient_col, "_time"], kind="stable")
    values = ordered[features].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    keys = ordered[patient_col].astype(str).to_numpy()
    by_patient: dict[str, np.ndarray] = {}
    starts = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1, len(keys)]
    for start, end in zip(starts[:-1], starts[1:], strict=True):
        by_patient[keys[start]] = values[start:end][-max_visits:]
    out = np.full((len(patients), max_visits, len(features)), np.nan, dtype=np.float32)
    lengths = np.zeros(len(patients), dtype=np.int64)
    for row, patient in enumerate(patients.astype(str).tolist()):
        sequence = by_patient.get(patient)
        if sequence is not None:
            out[row, : len(sequence)] = sequence
            lengths[row] = len(sequence)
    return out, lengths, list(features)


def _rows(rows: list[int], show: int = 5) -> str:
    listed = ", ".join(str(r + 1) for r in rows[:show])
    return listed + (", ..." if len(rows) > show else "")
