"""``tailorkit init diagnosis`` and the offline demo (Wisconsin breast cancer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer

from tailorkit.errors import SpecError
from tailorkit.solutions.base import require_columns, require_options, table_columns


def init_template(name: str, options: dict[str, Any]) -> str:
    """A commented ``tailorkit.yaml`` for a diagnosis project."""
    require_options("diagnosis", options, "data", "target")
    wanted = {"--target": options["target"], "--key": options.get("key")}
    wanted["--patient-col"] = options.get("patient_col")
    wanted.update({f"--text {c}": c for c in options.get("text") or []})
    wanted.update({f"--protected {c}": c for c in options.get("protected") or []})
    for image in options.get("image") or []:
        image_name, _, column = image.partition("=")
        wanted[f"--image {image}"] = column or image_name
    require_columns(options["data"], table_columns(options["data"]), wanted)
    key = options.get("key")
    lines = [
        "# tailorkit project spec. Check it with `tailorkit validate --show`, train with "
        "`tailorkit run`.",
        f"name: {name}",
        "solution: diagnosis",
        "",
        "data:",
        f"  train: {options['data']}        # CSV, Parquet, JSON lines, Excel or a SQL URL",
        f"  key: {key}          # copied into predictions"
        if key
        else "  # key: record_id          # copied into predictions",
        f"target: {options['target']}",
        f"positive_label: {options['positive_label']}   # the value meaning 'has the disease'"
        if options.get("positive_label")
        else "# positive_label: 1          # the value meaning 'has the disease'",
    ]
    protected = options.get("protected") or []
    if protected:
        lines.append(f"features: {{protected: [{', '.join(protected)}]}}   # audited for fairness")
    patient = options.get("patient_col")
    lines.append(
        f"patient: {patient}          # rows of one patient never span folds"
        if patient
        else "# patient: patient_id       # set when a patient has several rows"
    )
    texts = options.get("text") or []
    lines.append(
        f"text: [{', '.join(texts)}]"
        if texts
        else "# text: [note]              # clinical note columns"
    )
    lines.append("text_model: {mode: frozen, max_length: 256}   # frozen | finetune | lora")
    images = options.get("image") or []
    if images:
        name_, _, column = images[0].partition("=")
        lines.append(
            f"images: {{{name_}: {column or name_}}}     # image name: column of file paths"
        )
    else:
        lines.append("# images: {xray: xray_path}  # or image_array: images.npy (one per row)")
    if options.get("visits"):
        if not (options.get("patient_col") and options.get("time_col")):
            raise SpecError("tailorkit init diagnosis --visits needs --patient-col and --time-col")
        wanted = {"--patient-col": options["patient_col"], "--time-col": options["time_col"]}
        require_columns(options["visits"], table_columns(options["visits"]), wanted)
        lines += [
            "visits:",
            f"  file: {options['visits']}",
            f"  patient_col: {options['patient_col']}",
            f"  time_col: {options['time_col']}",
        ]
    lines += [
        "",
        "operating_point: {sensitivity: 0.90}   # or {specificity: 0.95} or {cost_ratio: 10}",
        "# prevalence: 0.05          # PPV/NPV at this prevalence (default: the data's)",
        "recalibration: none          # none | platt | isotonic (fitted inside folds)",
        "# subgroups: [sex, age]     # default: sex and age bands when present",
        "evaluation: {protocol: kfold, folds: 5, seed: 0}",
        "requirements:",
        "  - auroc >= 0.75",
        "  # - specificity >= 0.5",
        "  # - equalized_odds_difference[sex] <= 0.10   # a features.protected column",
    ]
    return "\n".join(lines) + "\n"


DEMO_SPEC = """\
# tailorkit demo: diagnosis on the real Wisconsin diagnostic breast cancer data (569 fine-
# needle aspirates, shipped inside scikit-learn; UCI, CC BY 4.0). Edit and re-run.
name: breast-cancer
solution: diagnosis
data:
  train: patients.csv
  key: record_id
target: diagnosis
positive_label: malignant
models: [logistic, lightgbm]
operating_point: {sensitivity: 0.95}
prevalence: 0.05               # PPV/NPV as in a screening population, not this sample
recalibration: platt
evaluation: {protocol: kfold, folds: 5, seed: 0, bootstrap: 500}
requirements:
  - auroc >= 0.95
  - specificity >= 0.80
"""


def demo_project(folder: Path) -> tuple[Path, str]:
    """The demo: scikit-learn's bundled Wisconsin breast cancer data (real, offline)."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame.insert(0, "record_id", [f"R{i:04d}" for i in range(len(frame))])
    frame["diagnosis"] = np.where(frame.pop("target") == 0, "malignant", "benign")
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "patients.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec, "Wisconsin diagnostic breast cancer, 569 patients (scikit-learn)"
