"""Diagnosis benchmark on real public data (not part of the unit tests).

Sections (run all, or some with ``--sections``); each merges its results into
``benchmarks/results/diagnosis.json``:

- ``tabular``: UCI heart disease (Cleveland; target num > 0; '?' = missing) and breast
  cancer WDBC. Protocol (issue #5): StratifiedKFold(n_splits=5, shuffle=True,
  random_state=0) over the rows in file order, AUROC pooled over out-of-fold predictions,
  bootstrap 95% CI. Ours is the default ``tailorkit run`` of the diagnosis solution (no
  tuning); plain logistic regression and LightGBM defaults are rerun under the same splits
  as a protocol check.
- ``image``: PneumoniaMNIST, class-balanced subsample, on its given train/val/test split
  (validation only for early stopping); test AUROC and accuracy at 0.5.
- ``text``: medical abstracts, 5 classes, the same 5-fold protocol, macro-F1: TF-IDF +
  logistic regression vs frozen MiniLM + logistic head vs fine-tuned MiniLM. With
  ``--text-corpus mtsamples``: MTSamples transcriptions by specialty (the harder task; see
  ``load_mtsamples`` for the de-duplication).
- ``fusion``: simulated multimodal patients (tabular + note + image): fusion vs each
  single modality, 5-fold pooled AUROC.

    python benchmarks/diagnosis.py [--sections tabular image text fusion]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
RESULTS = Path(__file__).resolve().parent / "results" / "diagnosis.json"
SPLITTER = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
PEERS = {  # issue #5: measured with the same protocol (pooled out-of-fold AUROC)
    "cleveland": {
        "logistic regression": 0.909,
        "LightGBM": 0.895,
        "AutoGluon medium_quality": 0.909,
    },
    "wdbc": {"logistic regression": 0.995, "LightGBM": 0.993, "AutoGluon medium_quality": 0.988},
}
TARGETS = {"cleveland": 0.915, "wdbc": 0.995, "pneumoniamnist": 0.95}
CLEVELAND_COLUMNS = [
    "age", "sex", "cp", "trestbps", "chol", "fbs", "restecg",
    "thalach", "exang", "oldpeak", "slope", "ca", "thal", "num",
]  # fmt: skip


# ------------------------------------------------------------------ tabular
def load_cleveland() -> tuple[pd.DataFrame, str]:
    path = SHARED / "heart-disease" / "processed.cleveland.data"
    frame = pd.read_csv(path, header=None, names=CLEVELAND_COLUMNS, na_values="?")
    frame["disease"] = (frame.pop("num") > 0).astype(int)
    for column in ("cp", "restecg", "slope", "thal"):  # coded categories, not quantities
        frame[column] = frame[column].map(lambda v, c=column: None if pd.isna(v) else f"{c}{v:g}")
    return frame, "disease"


def load_wdbc() -> tuple[pd.DataFrame, str]:
    path = SHARED / "breast-cancer-wdbc" / "wdbc.data"
    frame = pd.read_csv(path, header=None)
    frame.columns = ["id", "diagnosis"] + [f"f{i}" for i in range(1, 31)]
    frame["malignant"] = (frame.pop("diagnosis") == "M").astype(int)
    return frame.drop(columns=["id"]), "malignant"


def run_tailorkit_tabular(frame: pd.DataFrame, target: str, name: str) -> dict:
    from tailorkit import Project

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        frame.to_csv(folder / "data.csv", index=False)
        spec = {
            "name": name,
            "solution": "diagnosis",
            "data": {"train": "data.csv"},
            "target": target,
            "positive_label": 1,
        }
        (folder / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
        started = time.perf_counter()
        result = Project.from_yaml(folder / "tailorkit.yaml").run()
        seconds = time.perf_counter() - started
    board = result.result["leaderboard"]
    keep = ("model", "auroc", "auroc_ci", "auprc", "sensitivity", "specificity", "brier", "ece")
    return {
        "models": [{k: row.get(k) for k in keep} for row in board],
        "best": result.best,
        "seconds": round(seconds, 1),
        "operating_point": result.result.get("operating_point"),
    }


def peer_check(frame: pd.DataFrame, target: str) -> dict[str, float]:
    """Plain logistic regression and LightGBM defaults under the same splits."""
    import lightgbm as lgb

    X = frame.drop(columns=[target])
    X = pd.get_dummies(X, dummy_na=False).astype(float)
    y = frame[target].to_numpy()
    out = {}
    models = {
        "logistic regression (rerun)": lambda: make_pipeline(
            SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000)
        ),
        "LightGBM defaults (rerun)": lambda: lgb.LGBMClassifier(verbose=-1, random_state=0),
    }
    for name, build in models.items():
        oof = np.zeros(len(y))
        for train, valid in SPLITTER.split(X, y):
            model = build().fit(X.iloc[train], y[train])
            oof[valid] = model.predict_proba(X.iloc[valid])[:, 1]
        out[name] = round(float(roc_auc_score(y, oof)), 4)
    return out


def section_tabular() -> dict:
    out = {}
    for name, loader in (("cleveland", load_cleveland), ("wdbc", load_wdbc)):
        frame, target = loader()
        print(f"[tabular] {name}: {len(frame)} rows", flush=True)
        ours = run_tailorkit_tabular(frame, target, name)
        best = ours["models"][0]
        out[name] = {
            "rows": len(frame),
            "positive_rate": round(float(frame[target].mean()), 4),
            "tailorkit": ours,
            "peers_issue": PEERS[name],
            "peers_rerun": peer_check(frame, target),
            "target": TARGETS[name],
            "met": best["auroc"] >= TARGETS[name],
        }
        print(f"[tabular] {name}: best {best['model']} AUROC {best['auroc']:.4f}", flush=True)
    return out


# -------------------------------------------------------------------- image
def section_image() -> dict:
    from tailorkit.models.cnn import ImageCNN

    data = np.load(SHARED / "medical-image-pneumoniamnist" / "pneumoniamnist_balanced.npz")
    split = {
        s: (data[f"{s}_images"], data[f"{s}_labels"].ravel()) for s in ("train", "val", "test")
    }
    model = ImageCNN(max_epochs=40, random_state=0, n_threads=2)
    started = time.perf_counter()
    model.fit(*split["train"], validation=split["val"])
    seconds = time.perf_counter() - started
    test_images, test_y = split["test"]
    probability = model.predict_proba(test_images)[:, 1]
    auroc = float(roc_auc_score(test_y, probability))
    result = {
        "sizes": {s: int(len(v[1])) for s, v in split.items()},
        "model": "image_cnn (ResNet-style, 3 stages 24/48/96, from scratch, augmentation)",
        "epochs_run": model.epochs_,
        "fit_seconds": round(seconds, 1),
        "test_auroc": round(auroc, 4),
        "test_accuracy": round(float(accuracy_score(test_y, probability > 0.5)), 4),
        "anchor": "ResNet-18 28px on the FULL PneumoniaMNIST test set: AUC 0.944 / ACC 0.854 "
        "(MedMNIST v2); ours is the class-balanced subsample, so accuracy is not comparable",
        "target": TARGETS["pneumoniamnist"],
        "met": auroc >= TARGETS["pneumoniamnist"],
    }
    print(f"[image] test AUROC {auroc:.4f} acc {result['test_accuracy']:.4f}", flush=True)
    return result


# --------------------------------------------------------------------- text
def load_abstracts() -> tuple[list[str], np.ndarray]:
    frame = pd.read_csv(SHARED / "clinical-text-medical-abstracts" / "medical_tc_test.csv")
    return frame["medical_abstract"].astype(str).tolist(), frame["condition_label"].to_numpy()


CROSS_CUTTING = {  # MTSamples labels that name a document type or service, not an organ system
    "Surgery",
    "Radiology",
    "Consult - History and Phy.",
    "SOAP / Chart / Progress Notes",
    "Discharge Summary",
    "Office Notes",
    "Letters",
    "Emergency Room Reports",
    "General Medicine",
    "IME-QME-Work Comp etc.",
}
MIN_NOTES_PER_SPECIALTY = 20


def load_mtsamples() -> tuple[list[str], np.ndarray]:
    """One row per distinct note, labelled by its one organ-system specialty.

    MTSamples lists most notes under several specialties (4,999 rows, 2,357 distinct
    notes), so rows are grouped by the note's text first (no note can sit on both sides of
    a split). The labels that cut across organ systems (``CROSS_CUTTING``) are removed from
    each note's set; notes left with exactly one specialty are kept, and specialties with at
    least ``MIN_NOTES_PER_SPECIALTY`` notes; the rest are dropped (ambiguous or too rare).
    """
    frame = pd.read_csv(SHARED / "mtsamples-medical-transcriptions" / "mtsamples.csv.xz")
    frame = frame.dropna(subset=["transcription"])
    frame["text"] = frame["transcription"].str.strip()
    frame["specialty"] = frame["medical_specialty"].str.strip()
    labels = frame.groupby("text", sort=False)["specialty"].agg(
        lambda values: sorted(set(values) - CROSS_CUTTING)
    )
    single = labels[labels.map(len) == 1].map(lambda values: values[0])
    counts = single.value_counts()
    single = single[single.isin(counts[counts >= MIN_NOTES_PER_SPECIALTY].index)]
    classes = sorted(single.unique())
    return single.index.tolist(), single.map(classes.index).to_numpy()


def text_cv(build, texts: list[str], y: np.ndarray, label: str, train_rows: int | None) -> dict:
    """5-fold macro-F1; ``train_rows`` caps each fold's training rows (stratified subsample,
    seed 0) while every held-out row is still scored."""
    predicted = np.zeros_like(y)
    fold_f1, started = [], time.perf_counter()
    for fold, (train, valid) in enumerate(SPLITTER.split(texts, y), start=1):
        if train_rows and train_rows < len(train):
            train, _ = train_test_split(
                train, train_size=train_rows, stratify=y[train], random_state=0
            )
        model = build().fit([texts[i] for i in train], y[train])
        predicted[valid] = model.predict([texts[i] for i in valid])
        fold_f1.append(float(f1_score(y[valid], predicted[valid], average="macro")))
        print(f"[text] {label} fold {fold}: macro-F1 {fold_f1[-1]:.4f}", flush=True)
    return {
        "macro_f1": round(float(f1_score(y, predicted, average="macro")), 4),
        "fold_macro_f1": [round(v, 4) for v in fold_f1],
        "accuracy": round(float(accuracy_score(y, predicted)), 4),
        "train_rows_per_fold": train_rows or "all",
        "seconds": round(time.perf_counter() - started, 1),
    }


def section_text(
    modes: list[str], finetune_rows: int, corpus_rows: int | None, corpus: str = "abstracts"
) -> dict:
    from tailorkit.models.text_classifier import TextClassifier

    texts, y = load_mtsamples() if corpus == "mtsamples" else load_abstracts()
    key = "mtsamples_specialty" if corpus == "mtsamples" else "medical_abstracts"
    max_length = 256 if corpus == "mtsamples" else 128  # full notes: the first 256 tokens
    if corpus_rows and corpus_rows < len(texts):  # CPU budget: a stratified subset, seed 0
        keep, _ = train_test_split(
            np.arange(len(texts)), train_size=corpus_rows, stratify=y, random_state=0
        )
        texts, y = [texts[i] for i in np.sort(keep)], y[np.sort(keep)]
        key = f"medical_abstracts_subset_{corpus_rows}"
    previous = json.loads(RESULTS.read_text()).get("text", {}) if RESULTS.exists() else {}
    out: dict = {**previous.get(key, {}), "rows": len(texts), "classes": int(len(np.unique(y)))}
    builders = {
        "tfidf_logistic": lambda: make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
            LogisticRegression(max_iter=3000, C=10.0),
        ),
        "minilm_frozen": lambda: TextClassifier(mode="frozen", max_length=max_length, n_threads=2),
        "minilm_finetune": lambda: TextClassifier(
            mode="finetune", max_length=max_length, max_epochs=2, n_threads=2
        ),
        "minilm_lora": lambda: TextClassifier(
            mode="lora", max_length=max_length, max_epochs=2, n_threads=2
        ),
    }
    for mode in modes:
        subsample = "finetune" in mode or "lora" in mode or mode.endswith("_subsample")
        rows = finetune_rows if subsample else None
        out[mode] = text_cv(builders[mode.removesuffix("_subsample")], texts, y, mode, rows)
        merge_results({"text": {**previous, key: out}})  # keep what is done so far
    return out


# ------------------------------------------------------------------- fusion
def fusion_comparison(
    n_patients: int = 600, random_state: int = 0, folds: int = 5, epochs: int = 30
) -> dict:
    """Simulated patients (table + note + image): fusion vs each single modality, run
    through the full diagnosis solution (5-fold pooled AUROC)."""
    from tailorkit.data.simulators.patients import write_patient_files
    from tailorkit.pipeline import Project

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_patient_files(folder, n_patients, random_state=random_state)
        spec = {
            "name": "simulated-patients",
            "solution": "diagnosis",
            "data": {"train": "patients.csv"},
            "target": "disease",
            "patient": "patient_id",
            "text": ["note"],
            "text_model": {"max_length": 64},
            "images": {"xray": "xray"},
            "image_model": {"max_epochs": epochs},
            "fusion": {"max_epochs": epochs},
            "models": ["logistic", "text_classifier", "image_cnn", "fusion"],
            "evaluation": {"folds": folds, "seed": 0, "bootstrap": 500},
        }
        import yaml

        (folder / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
        started = time.perf_counter()
        result = Project.from_yaml(folder / "tailorkit.yaml").run()
        seconds = time.perf_counter() - started
    board = {r["model"]: r for r in result.result["leaderboard"]}
    fusion = board["fusion"]["auroc"]
    singles = {m: board[m]["auroc"] for m in board if m != "fusion"}
    return {
        "data": f"simulated patients (tailorkit.data.simulators.patients), n={n_patients}, "
        "tabular + note + 24×24 image, ~5% empty notes and missing images; at most "
        f"{epochs} epochs for the CNN and the fusion model (CPU budget)",
        "auroc": {m: round(r["auroc"], 4) for m, r in board.items()},
        "auroc_ci": {m: r.get("auroc_ci") for m, r in board.items()},
        "fusion_beats_every_single_modality": all(fusion > v for v in singles.values()),
        "seconds": round(seconds, 1),
    }


def section_fusion() -> dict:
    result = fusion_comparison(n_patients=400, random_state=0, folds=5, epochs=20)
    print(f"[fusion] {result['auroc']}", flush=True)
    return result


# --------------------------------------------------------------------- main
def merge_results(updates: dict) -> dict:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(updates)
    results["machine"] = {
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "note": "2 shared CPU cores; timings are indicative only",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["tabular", "image", "text", "fusion"])
    parser.add_argument(
        "--text-modes",
        nargs="+",
        default=[
            "tfidf_logistic",
            "minilm_frozen",
            "tfidf_logistic_subsample",
            "minilm_frozen_subsample",
            "minilm_finetune",
        ],
    )
    parser.add_argument(
        "--finetune-rows",
        type=int,
        default=800,
        help="training rows per fold for fine-tuning (CPU budget); the *_subsample baselines "
        "use the same rows",
    )
    parser.add_argument(
        "--text-rows",
        type=int,
        default=None,
        help="5-fold CV on a stratified subset of this many abstracts (CPU budget)",
    )
    parser.add_argument("--text-corpus", choices=["abstracts", "mtsamples"], default="abstracts")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in args.sections:
        if name == "tabular":
            merge_results({"tabular": section_tabular()})
        elif name == "image":
            merge_results({"image": {"pneumoniamnist": section_image()}})
        elif name == "text":
            section_text(args.text_modes, args.finetune_rows, args.text_rows, args.text_corpus)
        elif name == "fusion":
            merge_results({"fusion": section_fusion()})
    print(json.dumps(json.loads(RESULTS.read_text()), indent=1))


if __name__ == "__main__":
    main()
