"""Simulator of multimodal patient records with a known disease mechanism (tests, fusion demo).

Each patient has three independent latent findings, each seen by one modality only:

- ``risk`` (standard normal) drives the table: age, systolic blood pressure, cholesterol,
  BMI and smoking are noisy functions of it; ``sex`` has a small direct effect.
- ``symptoms`` (standard normal) drives the clinical note: a few sentences drawn from
  phrase pools whose severity follows the latent value (e.g. "denies chest pain" vs
  "reports crushing chest pain on exertion"), mixed with neutral filler sentences.
- ``lesion`` (standard normal) drives a 24×24 grey-scale image: a body-like ellipse with
  noise and, when the latent is high, a brighter blob of random position and size.

Disease happens with probability ``sigmoid(a + 1.1 risk + 1.1 symptoms + 1.1 lesion)``,
``a`` set for roughly ``prevalence``. So every modality alone is informative but
incomplete, and a model combining them can do markedly better: the point of the fusion
demonstration. About 5% of notes are empty and 5% of images are missing.

``simulate_visits`` adds a visit history per patient (systolic pressure and glucose over
2–8 visits) whose upward trend follows a fourth latent that also raises the risk when
``visit_effect`` is non-zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

IMAGE_SIZE = 24
SYMPTOM_PHRASES = (
    ("denies chest pain", "no shortness of breath", "exercise tolerance is good"),
    ("occasional mild fatigue", "some breathlessness on stairs", "intermittent palpitations"),
    (
        "reports chest tightness on exertion",
        "shortness of breath walking on flat ground",
        "new ankle swelling",
    ),
    (
        "crushing chest pain radiating to the left arm",
        "breathless at rest and unable to lie flat",
        "collapsed at home with sweating",
    ),
)
FILLER = (
    "Lives with family.",
    "Attended with daughter.",
    "Medication list reviewed.",
    "Allergic to penicillin.",
    "Works as a teacher.",
    "Non-drinker.",
    "Vaccinations up to date.",
    "Seen in clinic last year.",
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _note(symptoms: float, rng: np.random.Generator) -> str:
    level = int(
        np.clip(np.digitize(symptoms + 0.6 * rng.standard_normal(), [-0.8, 0.2, 1.0]), 0, 3)
    )
    phrases = rng.choice(SYMPTOM_PHRASES[level], size=2, replace=False)
    filler = rng.choice(FILLER, size=2, replace=False)
    sentences = [f"Patient {phrases[0]}.", f"Also {phrases[1]}.", *filler]
    rng.shuffle(sentences)
    return " ".join(sentences)


def _image(lesion: float, rng: np.random.Generator) -> np.ndarray:
    grid = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) / (IMAGE_SIZE - 1) - 0.5
    y, x = grid
    body = ((x / 0.42) ** 2 + (y / 0.48) ** 2 < 1).astype(np.float32) * 0.45
    image = body + 0.08 * rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE))
    strength = 0.5 * _sigmoid(2.0 * (lesion + 0.4 * rng.standard_normal()))
    cy, cx = rng.uniform(-0.25, 0.25, size=2)
    radius = rng.uniform(0.06, 0.14)
    image += strength * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def simulate_patients(
    n_patients: int = 1000, *, prevalence: float = 0.35, random_state: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Patient table (``patient_id``, tabular columns, ``note``, 0/1 ``disease``) and the
    aligned images ``(n, 24, 24)`` uint8 (missing images are all-zero, ``image_missing``
    in the table says which)."""
    rng = np.random.default_rng(random_state)
    n = n_patients
    risk, symptoms, lesion = rng.standard_normal((3, n))
    sex = rng.choice(["female", "male"], size=n)
    logit = 1.1 * risk + 1.1 * symptoms + 1.1 * lesion + 0.2 * (sex == "male")
    offset = np.quantile(-logit, prevalence)  # about `prevalence` positives
    disease = (rng.random(n) < _sigmoid(logit + offset)).astype(int)
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:05d}" for i in range(n)],
            "age": np.clip(np.round(58 + 9 * risk + 8 * rng.standard_normal(n)), 25, 95),
            "sex": sex,
            "systolic_bp": np.round(132 + 11 * risk + 12 * rng.standard_normal(n)),
            "cholesterol": np.round(5.2 + 0.6 * risk + 0.7 * rng.standard_normal(n), 1),
            "bmi": np.round(27 + 2.5 * risk + 3.5 * rng.standard_normal(n), 1),
            "smoker": rng.random(n) < _sigmoid(-1.0 + 0.8 * risk),
        }
    )
    frame["note"] = [_note(s, rng) for s in symptoms]
    frame.loc[rng.random(n) < 0.05, "note"] = ""
    images = np.stack([_image(v, rng) for v in lesion])
    missing = rng.random(n) < 0.05
    images[missing] = 0
    frame["image_missing"] = missing
    frame["disease"] = disease
    return frame, images


def simulate_visits(patients: pd.DataFrame, *, random_state: int = 0) -> pd.DataFrame:
    """A visit history per patient: ``patient_id``, ``visit_date``, ``systolic_bp``,
    ``glucose``; diseased patients' values tend to rise over their visits."""
    rng = np.random.default_rng(random_state + 1)
    rows = []
    for patient, disease in zip(patients["patient_id"], patients["disease"], strict=True):
        trend = 0.9 * disease + 0.8 * rng.standard_normal()
        start = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 365)))
        for visit in range(int(rng.integers(2, 9))):
            rows.append(
                {
                    "patient_id": patient,
                    "visit_date": (start + pd.Timedelta(days=90 * visit)).date().isoformat(),
                    "systolic_bp": round(128 + 3 * trend * visit + 8 * rng.standard_normal()),
                    "glucose": round(5.4 + 0.25 * trend * visit + 0.5 * rng.standard_normal(), 2),
                }
            )
    return pd.DataFrame(rows)


def write_patient_files(folder: Path, n_patients: int = 400, *, random_state: int = 0) -> Path:
    """A project folder: ``patients.csv`` (with an ``xray`` path column), ``images/*.png``
    (none for patients whose image is missing) and ``visits.csv``. Returns the CSV path."""
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    frame, images = simulate_patients(n_patients, random_state=random_state)
    paths = []
    for patient, image, missing in zip(
        frame["patient_id"], images, frame["image_missing"], strict=True
    ):
        path = f"images/{patient}.png"
        if not missing:
            Image.fromarray(image).save(folder / path)
        paths.append(path)
    frame["xray"] = paths
    frame = frame.drop(columns=["image_missing"])
    frame.to_csv(folder / "patients.csv", index=False)
    simulate_visits(frame, random_state=random_state).to_csv(folder / "visits.csv", index=False)
    return folder / "patients.csv"
