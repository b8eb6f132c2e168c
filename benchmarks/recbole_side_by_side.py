"""RecBole side by side on exactly our leave-one-out split of ml-latest-small.

Runs in its OWN environment (RecBole is never a tailorkit dependency)::

    python3 -m venv /work/venv-recbole
    /work/venv-recbole/bin/pip install torch==2.13.0 recbole==1.2.1
    nohup nice -n 5 /work/venv-recbole/bin/python benchmarks/recbole_side_by_side.py \
        > benchmarks/results/recbole_side_by_side.log 2>&1 &

Protocol (identical to ``benchmarks/recommendation.py``): per user, stable sort by timestamp
(ties keep file order); last interaction = test, second-to-last = validation, the rest =
training; full ranking over all items; items the user already had before the target are
excluded (for every model, sequential ones included). The pitfalls in
``shared/benchmarks/RECBOLE-NOTES.md`` are worked around here by shims set before RecBole is
imported; site-packages is never edited:

- numpy 2 aliases (``np.float_`` ...);
- ``torch.load`` defaults to ``weights_only=False`` for RecBole's own checkpoint only;
- ``recbole.quick_start`` (imports ray) is not used;
- the data set is registered under a private name, so RecBole never loads a bundled copy;
- the per-user order is written as an integer rank into the timestamp field (float32 loses
  seconds), and RecBole's validation and test targets are asserted equal to ours per user;
- seen items are masked for sequential models too, from our own per-user history.

Writes ``benchmarks/results/recbole_side_by_side.json`` (updated after every epoch, so a run
stopped by its time budget still says how far it got) with per-user test ranks, which
``benchmarks/recommendation.py`` turns into bootstrap confidence intervals.

Converging SASRec takes hours on 2 cores, more than one sitting: ``--state-dir DIR`` keeps the
best and the last checkpoint (model, optimizer, early-stopping counter, random states, epoch
log) there after every epoch, and a later run with the same ``--state-dir`` resumes from the
next epoch exactly where the stopped one left off.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# --- shims (before RecBole is imported) -----------------------------------------------------
np.float_ = np.float64  # type: ignore[attr-defined]
np.complex_ = np.complex128  # type: ignore[attr-defined]
np.unicode_ = np.str_  # type: ignore[attr-defined]

import pandas as pd  # noqa: E402
import torch  # noqa: E402

_torch_load = torch.load


def _load_recbole_checkpoint(f, *args, **kwargs):
    """RecBole's checkpoint pickles its Config; allow it for RecBole's own files only."""
    if isinstance(f, (str, os.PathLike)) and "recbole_ckpt" in str(f):
        kwargs.setdefault("weights_only", False)
    return _torch_load(f, *args, **kwargs)


torch.load = _load_recbole_checkpoint

from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import get_model, init_seed  # noqa: E402

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent.parent / "shared" / "datasets" / "ml-latest-small" / "ratings.csv"
RESULTS = ROOT / "results" / "recbole_side_by_side.json"  # --out may name another file
DATASET_NAME = "tk-bench-ml-latest-small"


class DeadlineReached(Exception):
    """Raised from the epoch loop when the wall-clock budget is spent."""


def leave_one_out(path: Path) -> pd.DataFrame:
    """Per-user stable time order (ties keep file order) as an integer rank."""
    df = pd.read_csv(path)
    df["row"] = np.arange(len(df))
    df = df.sort_values(["userId", "timestamp", "row"], kind="stable").reset_index(drop=True)
    df["rank"] = df.groupby("userId").cumcount()
    df["n"] = df.groupby("userId")["rank"].transform("max") + 1
    df["role"] = "train"
    df.loc[df["rank"] == df["n"] - 1, "role"] = "test"
    df.loc[df["rank"] == df["n"] - 2, "role"] = "valid"
    return df


def split_fingerprint(df: pd.DataFrame) -> str:
    """Hash of (user, valid item, test item) for every user: the two scripts must agree."""
    rows = []
    for role in ("valid", "test"):
        part = df[df["role"] == role].sort_values("userId")
        rows.append(
            ";".join(f"{u}:{i}" for u, i in zip(part["userId"], part["movieId"], strict=False))
        )
    return hashlib.sha256("|".join(rows).encode()).hexdigest()


def write_atomic(df: pd.DataFrame, folder: Path) -> None:
    """RecBole atomic file; the timestamp field holds the per-user rank."""
    (folder / DATASET_NAME).mkdir(parents=True, exist_ok=True)
    out = pd.DataFrame(
        {
            "user_id:token": df["userId"].astype(str),
            "item_id:token": df["movieId"].astype(str),
            "timestamp:float": df["rank"].astype(float),
        }
    )
    out.to_csv(folder / DATASET_NAME / f"{DATASET_NAME}.inter", sep="\t", index=False)


def base_config(folder: Path, model: str, checkpoint_dir: Path) -> dict:
    cfg = {
        "data_path": str(folder),
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "eval_args": {
            "split": {"LS": "valid_and_test"},
            "order": "TO",
            "mode": "full",
            "group_by": "user",
        },
        "metrics": ["Hit", "NDCG"],
        "topk": [10, 20],
        "valid_metric": "NDCG@10",
        "stopping_step": 5,
        "epochs": 500,
        "seed": 2020,
        "reproducibility": True,
        "device": "cpu",
        "use_gpu": False,
        "show_progress": False,
        "checkpoint_dir": str(checkpoint_dir),
        "eval_batch_size": 4096,
        "learning_rate": 1e-3,
    }
    if model == "SASRec":
        cfg.update(
            {
                "loss_type": "CE",
                "train_neg_sample_args": None,
                "MAX_ITEM_LIST_LENGTH": 50,
                "hidden_size": 64,
                "inner_size": 256,
                "n_layers": 2,
                "n_heads": 2,
                "train_batch_size": 2048,
            }
        )
    elif model == "BPR":
        cfg.update({"embedding_size": 64, "train_batch_size": 2048})
    elif model == "Pop":
        cfg.update({"epochs": 1, "train_batch_size": 2048})
    return cfg


def seen_before(df: pd.DataFrame, phase: str) -> dict[str, list[str]]:
    """Items each user had before the validation (train) or test (train + valid) target."""
    keep = ("train",) if phase == "valid" else ("train", "valid")
    part = df[df["role"].isin(keep)]
    return {
        str(u): [str(i) for i in items]
        for u, items in part.groupby("userId")["movieId"].agg(list).items()
    }


def assert_same_split(dataset, loader, df: pd.DataFrame, role: str) -> None:
    """RecBole's targets for ``role`` must equal ours for every user."""
    inter = loader._dataset.inter_feat
    users = dataset.id2token("user_id", inter["user_id"].numpy())
    items = dataset.id2token("item_id", inter["item_id"].numpy())
    theirs = dict(zip(users, items, strict=False))
    ours = {str(u): str(i) for u, i in df.loc[df["role"] == role, ["userId", "movieId"]].values}
    if theirs != ours:
        diff = [u for u in ours if theirs.get(u) != ours[u]]
        raise AssertionError(f"RecBole {role} split differs from ours for {len(diff)} users")


class MaskedTrainer(Trainer):
    """Trainer whose full-sort evaluation masks each user's pre-target history itself,
    for every model (RecBole skips this for sequential models), and which stops at a
    wall-clock deadline."""

    seen_mask: dict[str, torch.Tensor] = {}
    phase = "valid"
    deadline: float = float("inf")
    epoch_log: list[dict] = []

    def _full_sort_batch_eval(self, batched_data):
        interaction, _history, positive_u, positive_i = batched_data
        scores = self.model.full_sort_predict(interaction.to(self.device))
        scores = scores.view(-1, self.tot_item_num)
        scores[:, 0] = -np.inf
        users = interaction["user_id"].cpu()
        scores[self.seen_mask[self.phase][users]] = -np.inf
        return interaction, scores, positive_u, positive_i

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if time.time() > self.deadline:
            raise DeadlineReached
        start = time.time()
        loss = super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)
        self.epoch_log.append({"epoch": epoch_idx, "train_s": round(time.time() - start, 2)})
        print(f"epoch {epoch_idx} trained in {time.time() - start:.0f}s", flush=True)
        return loss


def build_masks(dataset, df: pd.DataFrame) -> dict[str, torch.Tensor]:
    masks = {}
    for phase in ("valid", "test"):
        mask = torch.zeros(dataset.user_num, dataset.item_num, dtype=torch.bool)
        for user, items in seen_before(df, phase).items():
            uid = dataset.token2id("user_id", user)
            mask[uid, dataset.token2id("item_id", items)] = True
        masks[phase] = mask
    return masks


def test_ranks(trainer: MaskedTrainer, test_data, dataset) -> dict[str, int]:
    """Rank (1 = top) of each user's test item among all items, seen excluded."""
    trainer.phase = "test"
    trainer.model.eval()
    trainer.tot_item_num = dataset.item_num
    ranks: dict[str, int] = {}
    with torch.no_grad():
        for batch in test_data:
            interaction, scores, positive_u, positive_i = trainer._full_sort_batch_eval(batch)
            target = scores[positive_u, positive_i]
            better = (scores > target[:, None]).sum(dim=1) + 1
            users = dataset.id2token("user_id", interaction["user_id"][positive_u].numpy())
            for user, rank in zip(users, better.tolist(), strict=False):
                ranks[str(user)] = int(rank)
    return ranks


def summarize(ranks: dict[str, int]) -> dict[str, float]:
    r = np.array(list(ranks.values()), dtype=float)
    out = {}
    for k in (10, 20):
        hit = r <= k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(r + 1.0), 0.0).mean())
    return out


def save_progress(trainer, train_data, state: Path, epoch_idx: int, progress: dict) -> None:
    """Last checkpoint + random states + progress, so a later run resumes at the next epoch."""
    last = state / "recbole_ckpt" / "last.pth"  # RecBole's own file: the torch.load shim trusts it
    trainer._save_checkpoint(epoch_idx, verbose=False, saved_model_file=str(last) + ".tmp")
    Path(str(last) + ".tmp").replace(last)
    rng = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": __import__("random").getstate(),
        "loader": train_data.generator.get_state(),
    }
    torch.save(rng, state / "rng.tmp")
    (state / "rng.tmp").replace(state / "rng.pth")
    (state / "progress.tmp").write_text(json.dumps(progress))
    (state / "progress.tmp").replace(state / "progress.json")


def resume(trainer, train_data, state: Path) -> dict:
    """Restore a stopped run from ``state``; returns its progress record ({} when fresh)."""
    if not (state / "progress.json").exists():
        return {}
    progress = json.loads((state / "progress.json").read_text())
    trainer.resume_checkpoint(state / "recbole_ckpt" / "last.pth")
    trainer.saved_model_file = progress["best_file"]  # resume_checkpoint repoints it
    rng = torch.load(state / "rng.pth", weights_only=False)  # our own file
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    __import__("random").setstate(rng["python"])
    train_data.generator.set_state(rng["loader"])
    print(f"resumed at epoch {trainer.start_epoch} from {state}", flush=True)
    return progress


def run_model(
    model_name: str,
    df: pd.DataFrame,
    folder: Path,
    deadline: float,
    record: dict,
    state: Path | None = None,
):
    ckpt = (state or folder) / "recbole_ckpt"
    config = Config(
        model=model_name,
        dataset=DATASET_NAME,
        config_dict=base_config(folder, model_name, ckpt),
    )
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    assert_same_split(dataset, valid_data, df, "valid")
    assert_same_split(dataset, test_data, df, "test")
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = MaskedTrainer(config, model)
    trainer.seen_mask = build_masks(dataset, df)
    trainer.deadline = deadline
    trainer.epoch_log = []
    entry = {"model": model_name, "converged": False, "epochs": [], "split_checked": True}
    earlier = 0.0  # wall seconds spent by the runs this one resumes
    if state is not None:
        state.mkdir(parents=True, exist_ok=True)
        progress = resume(trainer, train_data, state)
        if progress:
            entry = progress["entry"]
            trainer.epoch_log = entry["epochs"]
            earlier = float(entry.get("wall_s_so_far", 0.0))
            entry["sittings"] = int(entry.get("sittings", 1)) + 1
    record["models"][model_name] = entry
    start = time.time() - earlier

    def on_valid(epoch_idx, valid_score):
        entry["epochs"] = trainer.epoch_log
        if trainer.epoch_log and trainer.epoch_log[-1]["epoch"] == epoch_idx:
            trainer.epoch_log[-1]["valid_ndcg@10"] = round(float(valid_score), 5)
            trainer.epoch_log[-1]["elapsed_s"] = round(time.time() - start, 1)
        entry["best_valid_ndcg@10"] = float(trainer.best_valid_score)
        if trainer.cur_step == 0:
            entry["best_epoch"] = int(epoch_idx)
        entry["wall_s_so_far"] = round(time.time() - start, 1)
        save(record)
        if state is not None:
            progress = {"entry": entry, "best_file": str(trainer.saved_model_file)}
            save_progress(trainer, train_data, state, epoch_idx, progress)
        print(
            f"[{model_name}] epoch {epoch_idx} valid ndcg@10={valid_score:.4f} "
            f"elapsed={time.time() - start:.0f}s",
            flush=True,
        )

    trainer.phase = "valid"
    stopped_by = "early stopping (patience 5 on valid NDCG@10)"
    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=on_valid)
        entry["converged"] = model_name != "Pop"
    except DeadlineReached:
        stopped_by = "wall-clock budget"
    train_s = time.time() - start
    entry["train_s"] = round(train_s, 1)
    entry["stopped_by"] = stopped_by if model_name != "Pop" else "no training (counts)"
    entry["epochs"] = trainer.epoch_log
    if model_name != "Pop" and Path(trainer.saved_model_file).exists():
        checkpoint = torch.load(trainer.saved_model_file, map_location="cpu")
        trainer.model.load_state_dict(checkpoint["state_dict"])
        trainer.model.load_other_parameter(checkpoint.get("other_parameter"))
    ranks = test_ranks(trainer, test_data, dataset)
    entry["test"] = summarize(ranks)
    entry["test_ranks"] = ranks
    entry["n_epochs_run"] = len(trainer.epoch_log)
    entry["sec_per_epoch"] = (
        round(float(np.mean([e["train_s"] for e in trainer.epoch_log])), 1)
        if trainer.epoch_log
        else None
    )
    save(record)
    print(f"[{model_name}] done: {entry['test']} train {train_s:.0f}s ({stopped_by})", flush=True)


_OUT = {"path": RESULTS}


def evaluate_checkpoint(
    model_name: str, df: pd.DataFrame, folder: Path, checkpoint: Path, record: dict, notes: dict
) -> None:
    """Test ranks of a saved best-validation checkpoint (a run stopped from outside)."""
    config = Config(
        model=model_name,
        dataset=DATASET_NAME,
        config_dict=base_config(folder, model_name, folder / "recbole_ckpt"),
    )
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    assert_same_split(dataset, valid_data, df, "valid")
    assert_same_split(dataset, test_data, df, "test")
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model.load_state_dict(state["state_dict"])
    trainer = MaskedTrainer(config, model)
    trainer.seen_mask = build_masks(dataset, df)
    ranks = test_ranks(trainer, test_data, dataset)
    entry = {"model": model_name, "converged": False, "split_checked": True, **notes}
    entry["test"] = summarize(ranks)
    entry["test_ranks"] = ranks
    record["models"][model_name] = entry
    save(record)
    print(f"[{model_name}] checkpoint {checkpoint}: {entry['test']}", flush=True)


def save(record: dict) -> None:
    path = _OUT["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="Pop,BPR,SASRec")
    parser.add_argument("--budget-min", type=float, default=110.0, help="wall-clock budget")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    parser.add_argument("--eval-checkpoint", type=Path, help="only evaluate this checkpoint")
    parser.add_argument("--notes", default="{}", help="JSON facts about the stopped run")
    parser.add_argument("--state-dir", type=Path, help="keep checkpoints here; resume from them")
    args = parser.parse_args()
    _OUT["path"] = args.out.resolve()
    torch.set_num_threads(args.threads)
    deadline = time.time() + args.budget_min * 60
    df = leave_one_out(DATA)
    record = {
        "dataset": "ml-latest-small",
        "protocol": "per-user stable time sort (ties keep file order); last = test, "
        "second-to-last = valid; full ranking; pre-target history excluded for every model",
        "split_fingerprint": split_fingerprint(df),
        "recbole": __import__("recbole").__version__,
        "torch": torch.__version__,
        "threads": args.threads,
        "budget_min": args.budget_min,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": {},
    }
    if args.out.exists():
        previous = json.loads(args.out.read_text())
        if previous.get("split_fingerprint") == record["split_fingerprint"]:
            record["models"] = previous.get("models", {})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)  # RecBole writes log/ and log_tensorboard/ into the working folder
        write_atomic(df, folder)
        for name in args.models.split(","):
            if args.eval_checkpoint:
                notes = json.loads(args.notes)
                evaluate_checkpoint(name, df, folder, args.eval_checkpoint, record, notes)
            else:
                state = args.state_dir.resolve() / name if args.state_dir else None
                run_model(name, df, folder, deadline, record, state)
    record["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save(record)


if __name__ == "__main__":
    sys.exit(main())
