"""Evaluation splits of per-user interaction sequences: leave-one-out by time, a global
temporal split, and the cold-start-item split that withholds items from training."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EvalCases:
    """Users to evaluate: their history before the target, and the target item."""

    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, keep: np.ndarray) -> EvalCases:
        index = np.flatnonzero(keep)
        return EvalCases(self.users[index], [self.histories[i] for i in index], self.targets[index])


@dataclass
class Split:
    """Training sequences (what models fit on) and the validation and test cases."""

    train: list[np.ndarray]
    train_times: list[np.ndarray]
    valid: EvalCases
    test: EvalCases
    protocol: str
    description: str
    counts: dict[str, int] = field(default_factory=dict)
    cold_items: np.ndarray | None = None  # boolean mask of items withheld from training
    train_weights: list[np.ndarray] | None = None  # event weights of the training sequences


def leave_one_out(
    sequences: list[np.ndarray], times: list[np.ndarray], weights: list[np.ndarray] | None = None
) -> Split:
    """Per user: last interaction = test, second-to-last = validation, the rest = training.

    Users with one interaction are training-only; users with two have a test case (their
    first interaction as history and training) but no validation case. ``weights`` (per
    user, like ``sequences``) follow the training events."""
    train, train_times = [], []
    v_users, v_hist, v_tgt, t_users, t_hist, t_tgt = [], [], [], [], [], []
    for user, (seq, ts) in enumerate(zip(sequences, times, strict=False)):
        n = len(seq)
        if n < 2:
            train.append(seq)
            train_times.append(ts)
            continue
        cut = n - 2 if n >= 3 else 1
        train.append(seq[:cut])
        train_times.append(ts[:cut])
        if n >= 3:
            v_users.append(user)
            v_hist.append(seq[: n - 2])
            v_tgt.append(seq[n - 2])
        t_users.append(user)
        t_hist.append(seq[: n - 1])
        t_tgt.append(seq[n - 1])
    counts = {
        "training_only_users": sum(1 for s in sequences if len(s) < 2),
        "validation_cases": len(v_tgt),
        "test_cases": len(t_tgt),
    }
    return Split(
        train,
        train_times,
        EvalCases(np.array(v_users, dtype=np.int64), v_hist, np.array(v_tgt, dtype=np.int64)),
        EvalCases(np.array(t_users, dtype=np.int64), t_hist, np.array(t_tgt, dtype=np.int64)),
        "leave_one_out",
        "Leave-one-out by time: each user's events in time order (stable sort, ties keep "
        "file order); last = test, second-to-last = validation, the rest = training. Users "
        "with a single interaction are used for training only.",
        counts,
        train_weights=_prefixes(weights, train),
    )


def _prefixes(weights: list[np.ndarray] | None, train: list[np.ndarray]):
    """Each user's weights cut to the length of their training sequence (a prefix)."""
    if weights is None:
        return None
    return [w[: len(seq)] for w, seq in zip(weights, train, strict=True)]


def temporal_split(
    sequences: list[np.ndarray],
    times: list[np.ndarray],
    test_fraction: float = 0.1,
    weights: list[np.ndarray] | None = None,
) -> Split:
    """Global temporal split: two cut times at the (1 - 2f) and (1 - f) quantiles of all
    event times. Training = events before the first cut; validation = each user's first
    event between the cuts; test = each user's first event after the second cut (history:
    everything before it)."""
    every = np.concatenate(times) if times else np.zeros(0)
    valid_cut, test_cut = np.quantile(every, [1 - 2 * test_fraction, 1 - test_fraction])
    train, train_times = [], []
    v = ([], [], [])
    t = ([], [], [])
    for user, (seq, ts) in enumerate(zip(sequences, times, strict=False)):
        before_valid = int(np.searchsorted(ts, valid_cut, side="left"))
        before_test = int(np.searchsorted(ts, test_cut, side="left"))
        train.append(seq[:before_valid])
        train_times.append(ts[:before_valid])
        if before_valid < before_test and before_valid > 0:
            v[0].append(user)
            v[1].append(seq[:before_valid])
            v[2].append(seq[before_valid])
        if before_test < len(seq) and before_test > 0:
            t[0].append(user)
            t[1].append(seq[:before_test])
            t[2].append(seq[before_test])

    def cases(parts) -> EvalCases:
        return EvalCases(
            np.array(parts[0], dtype=np.int64), parts[1], np.array(parts[2], dtype=np.int64)
        )

    return Split(
        train,
        train_times,
        cases(v),
        cases(t),
        "temporal",
        f"Global temporal split: training = events before the {1 - 2 * test_fraction:.0%} "
        f"time quantile; validation = each user's first event before the "
        f"{1 - test_fraction:.0%} quantile after that; test = each user's first event after "
        "it, with all earlier events as history.",
        {"validation_cases": len(v[2]), "test_cases": len(t[2])},
        train_weights=_prefixes(weights, train),
    )


def withhold_items(
    split: Split, n_items: int, fraction: float = 0.1, seed: int = 0, eligible=None
) -> Split:
    """The cold-start-item split: ``fraction`` of the items (among ``eligible``, default
    all) are removed from training entirely (every event, every history); the test cases
    kept are those whose target is a withheld item."""
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(eligible) if eligible is not None else np.arange(n_items)
    chosen = rng.choice(pool, size=max(1, int(round(fraction * len(pool)))), replace=False)
    cold = np.zeros(n_items, dtype=bool)
    cold[chosen] = True

    def warm(seq: np.ndarray) -> np.ndarray:
        return seq[~cold[seq]]

    keep_train = [~cold[s] for s in split.train]
    train = [s[k] for s, k in zip(split.train, keep_train, strict=False)]
    train_times = [t[k] for t, k in zip(split.train_times, keep_train, strict=False)]
    weights = split.train_weights
    if weights is not None:
        weights = [w[k] for w, k in zip(weights, keep_train, strict=True)]

    def cases(c: EvalCases, only_cold: bool) -> EvalCases:
        target_cold = cold[c.targets]
        keep = target_cold if only_cold else ~target_cold
        out = c.subset(keep)
        out.histories = [warm(h) for h in out.histories]
        return out

    return Split(
        train,
        train_times,
        cases(split.valid, only_cold=False),
        cases(split.test, only_cold=True),
        split.protocol + "+cold_items",
        f"{split.description} Cold-start items: {fraction:.0%} of the items (seed {seed}) are "
        "withheld from training entirely; test cases = users whose test item is withheld; "
        "ranking over all items.",
        {"withheld_items": int(cold.sum())},
        cold,
        weights,
    )
