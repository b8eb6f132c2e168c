"""SASRec with a full-softmax cross-entropy loss, masked-item pretraining and item text.

- **Encoder**: causal self-attention over each user's last ``max_len`` items (Kang &
  McAuley 2018) laid out as in the reference implementations: normalised input embeddings,
  post-norm blocks, dropout on attention weights, N(0, 0.02) init, learned positions, item
  embeddings tied to the output.
- **Loss**: cross-entropy over *all* items at every position (the "SASRec+" finding:
  full-softmax CE beats BCE with one sampled negative by a wide margin). Sequences are cut
  into windows of ``max_len`` transitions, so one forward pass trains every position;
  batches are padded tensors and there is no Python loop over users in the hot path.
- **Pretraining**: ``pretrain_epochs`` of masked-item prediction (BERT4Rec-style,
  bidirectional attention, ``mask_rate`` of the items replaced by a mask token) over the
  same sequences, then next-item fine-tuning of the same weights.
- **Item text**: when the data carries item text vectors (a pretrained encoder's, e.g.
  MiniLM), ``item = id_embedding + W · text``. Items never seen in training have their id
  embedding switched off, and during training ``id_dropout`` of the items lose theirs at
  random, so the model learns to score an item from its text alone: cold-start items.
  Items never seen in training are left out of the training softmax (their logits are
  masked): as ever-present negatives they would teach the model to rank every new item last.
- **Speed on CPU**: the items × positions logits product runs in bfloat16 where the CPU
  has native bfloat16 (``bf16_logits``, default: detected; the softmax and loss stay
  float32); batches are drawn from pools of similar-length windows and their common left
  padding is cut off.
- **Seen items** (``mask_seen``): optionally the items already in a position's window
  leave its training softmax (the target excepted), as evaluation and ``recommend`` never
  rank a user's seen items.
- **Early stopping** on validation NDCG@10 (full ranking, seen items excluded), keeping
  the best epoch's weights, or with ``average`` = a the mean of the weights of epochs
  best - a .. best + a (stochastic weight averaging; without validation cases, the last
  2a + 1 epochs').
- **Co-occurrence prior** (``cooccurrence`` = L, default 10): a user's scores add
  ``w · log(1 + 100 · knn / L)``, where knn is ItemKNN's summed similarity of each item to
  the user's last L items (``item_knn.py``, ``recent=L``): exact item-item co-occurrence,
  which a 64-dimensional embedding only approximates. ``w`` is chosen on the validation
  cases from ``PRIOR_WEIGHTS`` (0 included: no prior where it does not help; the smallest
  weight within one paired standard error of the best, ``one_standard_error``) unless
  ``cooccurrence_weight`` gives it (the refit on all interactions does); without validation
  cases and without a given weight there is no prior. Items never seen in training have no
  co-occurrences: each takes the mean prior of the ``PRIOR_TEXT_NEIGHBOURS`` trained items
  nearest to it by text, so the prior does not bury cold-start items.
- **Seed bag** (``n_seeds``, default 3): that many networks with seeds ``random_state + k``,
  each trained and early-stopped on its own, side by side in worker processes (one thread
  each); a user's scores are the mean of the members' log-softmax scores. ``n_seeds=1`` is
  one network, a third of the compute. ``time_limit`` bounds the whole fit: each member
  gets the budget's share of the rounds the members run in.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from tailorkit.errors import RegistryError, SpecError
from tailorkit.execution.process_pool import fold_executor, fold_workers
from tailorkit.models.item_knn import ItemKNN
from tailorkit.models.recommender import Recommender, TrainingSequences, Validation
from tailorkit.models.sasrec_network import (
    build_network,
    fast_bf16,
    history_mask,
    left_pad,
    length_buckets,
    mean_state,
    member_budget,
    onnx_scorer,
    training_windows,
)
from tailorkit.models.sasrec_prior import (
    PRIOR_TEXT_NEIGHBOURS,
    PRIOR_WEIGHTS,
    item_counts,
    one_standard_error,
    text_neighbours,
)
from tailorkit.progress import tracked

LAYOUT = "post-norm"  # saved with the weights: an artifact of another layout is refused


class SASRec(Recommender):
    family = "sasrec"

    def __init__(
        self,
        *,
        hidden: int = 64,
        layers: int = 2,
        heads: int = 2,
        max_len: int = 200,
        dropout: float = 0.5,
        learning_rate: float = 2e-3,
        weight_decay: float = 0.0,
        batch_size: int = 16,
        max_epochs: int = 200,
        patience: int = 5,
        n_seeds: int = 3,
        pretrain_epochs: int = 3,
        mask_rate: float = 0.2,
        use_text: bool = True,
        id_dropout: float = 0.1,
        mask_seen: bool = False,
        average: int = 0,
        cooccurrence: int = 10,
        cooccurrence_weight: float | None = None,
        bf16_logits: bool | None = None,
        time_limit: float | None = None,
        n_threads: int | None = None,
        random_state: int = 0,
        verbose: bool = False,
    ):
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.max_len = max_len
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.n_seeds = n_seeds
        self.pretrain_epochs = pretrain_epochs
        self.mask_rate = mask_rate
        self.use_text = use_text
        self.id_dropout = id_dropout
        self.mask_seen = mask_seen
        self.average = average
        self.cooccurrence = cooccurrence
        self.cooccurrence_weight = cooccurrence_weight
        self.bf16_logits = bf16_logits
        self.time_limit = time_limit
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, data: TrainingSequences, valid: Validation | None = None) -> SASRec:
        self.members_ = None
        if not isinstance(self.n_seeds, int) or self.n_seeds < 1:
            raise SpecError(f"sasrec n_seeds must be a whole number >= 1, not {self.n_seeds!r}")
        if not isinstance(self.average, int) or self.average < 0:
            raise SpecError(f"sasrec average must be a whole number >= 0, not {self.average!r}")
        if not isinstance(self.cooccurrence, int) or self.cooccurrence < 0:
            raise SpecError(
                f"sasrec cooccurrence must be a whole number >= 0 (0: no prior), "
                f"not {self.cooccurrence!r}"
            )
        weight = self.cooccurrence_weight
        if weight is not None and (not isinstance(weight, int | float) or weight < 0):
            raise SpecError(f"sasrec cooccurrence_weight must be a number >= 0, not {weight!r}")
        self.prior_, self.prior_weight_ = None, 0.0  # scores are the network's until the end
        self.prior_cold_ = None
        if self.n_seeds > 1:
            self._fit_bag(data, valid)
        else:
            self._fit_network(data, valid)
        self._fit_prior(data, valid)
        return self

    def _fit_network(self, data: TrainingSequences, valid: Validation | None) -> None:
        """One network: optional masked-item pretraining, then next-item fine-tuning with
        early stopping on the validation cases."""
        import torch

        if self.n_threads:
            torch.set_num_threads(self.n_threads)
        self._session = None
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        started = time.perf_counter()
        self.n_items_ = n = data.n_items
        text = data.item_vectors if self.use_text else None
        if text is not None and not np.any(text):
            text = None
        counts = item_counts(data)
        self.network_ = build_network(n, self, 0 if text is None else text.shape[1])
        self._unseen = None
        if text is not None:
            self.network_.text[1 : n + 1] = torch.from_numpy(np.asarray(text, np.float32))
            self.network_.id_off[1 : n + 1] = torch.from_numpy(counts == 0)
            if (counts == 0).any():  # scored from text only; never trained as negatives
                self._unseen = torch.from_numpy(counts == 0)
        windows = torch.from_numpy(training_windows(data.sequences, self.max_len))
        self.log_: list[dict[str, Any]] = []
        optimizer = torch.optim.Adam(
            self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        deadline = started + self.time_limit if self.time_limit else math.inf
        for epoch in tracked(range(self.pretrain_epochs), "sasrec: pretraining epochs"):
            if time.perf_counter() > deadline or not len(windows):
                break
            loss = self._epoch(windows, optimizer, rng, masked=True, has_text=text is not None)
            self.log_.append({"stage": "pretrain", "epoch": epoch + 1, "loss": loss})
            self._say(self.log_[-1], started)
        self.pretrain_seconds_ = time.perf_counter() - started
        optimizer = torch.optim.Adam(
            self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        best, best_state, waited = -1.0, None, 0
        self.best_epoch_ = 0
        recent: dict[int, dict] = {}  # epoch -> weights, for ``average``
        for epoch in tracked(range(self.max_epochs), "sasrec: epochs"):
            if time.perf_counter() > deadline or not len(windows):
                break
            loss = self._epoch(windows, optimizer, rng, masked=False, has_text=text is not None)
            entry: dict[str, Any] = {"stage": "finetune", "epoch": epoch + 1, "loss": loss}
            if self.average > 0:
                recent[epoch + 1] = {
                    k: v.detach().clone() for k, v in self.network_.named_parameters()
                }
                recent.pop(epoch + 1 - self.average - self.patience - 1, None)
            if valid is not None and len(valid.targets):
                entry["valid_ndcg@10"] = score = self._validate(valid)
                if score > best:
                    best, waited, self.best_epoch_ = score, 0, epoch + 1
                    best_state = {k: v.clone() for k, v in self.network_.state_dict().items()}
                else:
                    waited += 1
            entry["seconds"] = round(time.perf_counter() - started, 2)
            self.log_.append(entry)
            self._say(entry, started)
            if waited >= self.patience:
                break
        if best_state is not None:
            self.network_.load_state_dict(best_state)
        if recent:
            centre = self.best_epoch_ if best_state is not None else max(recent) - self.average
            self.network_.load_state_dict(mean_state(recent, centre, self.average), strict=False)
            if best_state is not None:
                best = self._validate(valid)
        self.best_valid_ndcg_ = best if best >= 0 else None
        self.fit_seconds_ = time.perf_counter() - started
        self.network_.eval()
        self._table = None

    def _fit_prior(self, data: TrainingSequences, valid: Validation | None) -> None:
        """The co-occurrence prior and its weight (given, or the best on validation)."""
        weight = self.cooccurrence_weight
        has_valid = valid is not None and len(valid.targets)
        if not self.cooccurrence or (weight is None and not has_valid) or weight == 0:
            return
        self.prior_ = ItemKNN(recent=self.cooccurrence).fit(data)
        self.prior_cold_ = text_neighbours(data, PRIOR_TEXT_NEIGHBOURS) if self.use_text else None
        if weight is None:
            cases = {}
            for w in PRIOR_WEIGHTS:
                self.prior_weight_ = w
                cases[w] = valid.case_ndcg(self.score, self.n_items_)
            weight = one_standard_error(cases)
            self.prior_validation_ = {w: float(c.mean()) for w, c in cases.items()}
            self.best_valid_ndcg_ = self.prior_validation_[weight]
        self.prior_weight_ = float(weight)
        if not self.prior_weight_:
            self.prior_ = None

    def _fit_bag(self, data: TrainingSequences, valid: Validation | None) -> SASRec:
        """One network per seed, trained side by side (one worker process per core)."""

        started = time.perf_counter()
        self._session = None
        self.n_items_ = data.n_items
        seeds = [self.random_state + k for k in range(self.n_seeds)]
        workers = fold_workers(None, len(seeds))
        budget = member_budget(self.time_limit, len(seeds), workers)
        member = {"n_seeds": 1, "n_threads": 1, "time_limit": budget, "cooccurrence": 0}
        params = {**self.get_params(), **member}  # the prior is the bag's, fitted once
        jobs = [[params] * len(seeds), seeds, [data] * len(seeds), [valid] * len(seeds)]
        if workers > 1:
            with fold_executor(workers, ("tailorkit.models.sasrec", "torch._dynamo")) as pool:
                fitted = list(pool.map(_fit_member, *jobs))
        else:
            fitted = [_fit_member(*job) for job in zip(*jobs, strict=True)]
        self._restore_members(fitted)
        has_valid = valid is not None and len(valid.targets)
        self.best_valid_ndcg_ = self._validate(valid) if has_valid else None  # the bag's own
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _restore_members(self, fitted: list[tuple[dict, dict]]) -> None:
        """The bag from each member's (arrays, state); summaries over the members."""
        params = {**self.get_params(), "n_seeds": 1}
        self.members_ = []
        for k, (arrays, state) in enumerate(fitted):
            member = SASRec(**{**params, "random_state": self.random_state + k})
            member.n_items_ = self.n_items_
            member._restore(arrays, state)
            member.pretrain_seconds_ = state.get("pretrain_seconds", 0.0)
            self.members_.append(member)
        # the refit on all interactions trains each member for this many epochs
        self.best_epoch_ = round(float(np.mean([m.best_epoch_ for m in self.members_])))
        self.log_ = [{**e, "member": k} for k, m in enumerate(self.members_) for e in m.log_]
        self.pretrain_seconds_ = max(m.pretrain_seconds_ for m in self.members_)
        self.network_ = self.members_[0].network_

    def _say(self, entry: dict, started: float) -> None:
        if self.verbose:
            import sys

            took = time.perf_counter() - started
            print(f"sasrec {entry} ({took:.0f} s)", file=sys.stderr, flush=True)

    def _epoch(self, windows, optimizer, rng, *, masked: bool, has_text: bool) -> float:
        import torch
        import torch.nn.functional as F

        net = self.network_
        net.train()
        bf16 = fast_bf16() if self.bf16_logits is None else self.bf16_logits
        total, count = 0.0, 0
        for index in length_buckets(windows, self.batch_size, rng):
            batch = windows[index]
            batch = batch[:, int((batch > 0).to(torch.int8).argmax(1).min()) :]  # trim padding
            if batch.shape[1] < 2:
                continue
            drop = None
            if has_text and self.id_dropout > 0:
                drop = torch.rand(net.item.num_embeddings) < self.id_dropout
            table = net.item_table(drop)
            if masked:
                seq = batch[:, 1:]
                chosen = (torch.rand(seq.shape) < self.mask_rate) & (seq > 0)
                inputs = seq.masked_fill(chosen, net.mask_token)
                hidden = net.encode(inputs, table, causal=False)[chosen]
                targets = seq[chosen]
            else:
                inputs, following = batch[:, :-1], batch[:, 1:]
                hidden = net.encode(inputs, table, causal=True)
                used = inputs > 0
                hidden, targets = hidden[used], following[used]
            if not len(targets):
                continue
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = hidden @ table[1 : self.n_items_ + 1].T
            logits = logits.float()
            if self._unseen is not None:
                logits = logits.masked_fill(self._unseen, float("-inf"))
            if self.mask_seen and not masked:
                seen = history_mask(inputs, used, targets, self.n_items_)
                logits = logits.masked_fill(seen, float("-inf"))
            loss = F.cross_entropy(logits, targets - 1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            total += float(loss.detach()) * len(targets)
            count += len(targets)
        return round(total / max(count, 1), 5)

    def _validate(self, valid: Validation) -> float:
        self._table = None  # the weights moved since the last validation
        return valid.ndcg(self.score, self.n_items_)

    # ---------------------------------------------------------------- score
    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        out = self._network_scores(histories)
        if getattr(self, "prior_weight_", 0.0) and self.prior_ is not None:
            knn = self.prior_.score(histories)
            recent = np.array([min(len(h), self.cooccurrence) for h in histories])
            prior = np.log1p(100.0 * knn / np.maximum(recent, 1)[:, None])
            cold = getattr(self, "prior_cold_", None)
            if cold is not None:  # never trained: the prior of their text neighbours
                prior[:, cold[:, 0]] = prior[:, cold[:, 1:]].mean(axis=2)
            out += self.prior_weight_ * prior
        return out

    def _network_scores(self, histories: list[np.ndarray]) -> np.ndarray:
        import torch

        if getattr(self, "members_", None):  # a seed bag: mean log-softmax
            from scipy.special import log_softmax

            return np.mean([log_softmax(m.score(histories), axis=1) for m in self.members_], 0)
        out = np.zeros((len(histories), self.n_items_), dtype=np.float32)
        if getattr(self, "_session", None) is not None:  # compiled for serving
            for start in range(0, len(histories), 256):
                seq = left_pad(histories[start : start + 256], self.max_len)
                out[start : start + len(seq)] = self._session.run(None, {"seq": seq})[0]
            return out
        net = self.network_
        was_training = net.training
        net.eval()
        with torch.inference_mode():
            table = self._item_table()
            items = table[1 : self.n_items_ + 1]
            for start in range(0, len(histories), 256):
                part = histories[start : start + 256]
                seq = torch.from_numpy(left_pad(part, self.max_len))
                hidden = net.encode(seq, table, causal=True)[:, -1]
                out[start : start + len(part)] = (hidden @ items.T).numpy()
        net.train(was_training)
        return out

    def compile(self) -> SASRec:
        """Score through onnxruntime from here on (serving). Eager PyTorch re-takes the GIL
        after each of the network's tens of operators, so on a service's scoring thread every
        one of them waits for the event loop (a 16-user call measured 3-4x slower there than
        alone); the ONNX graph runs in one call that releases the GIL once. Same weights,
        scores equal to float rounding (tested). Refitting drops the compiled scorer."""
        if getattr(self, "members_", None):
            for member in self.members_:
                member.compile()
            return self
        self._session = onnx_scorer(self)
        return self

    def item_embeddings(self) -> np.ndarray:
        """The items' output vectors (id + projected text), for similar-item lookups (a seed
        bag's first member: members' vectors live in different spaces)."""
        import torch

        if getattr(self, "members_", None):
            return self.members_[0].item_embeddings()

        with torch.inference_mode():
            return self._item_table()[1 : self.n_items_ + 1].numpy()

    def _item_table(self):
        """Every item's vector, computed once per set of weights (the text projection over
        the whole catalogue is about half of a one-user scoring call); reset whenever the
        weights change (each validation during fit, the end of fit, loading)."""
        if getattr(self, "_table", None) is None:
            self._table = self.network_.item_table(None)
        return self._table

    # ---------------------------------------------------------- persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        prior = getattr(self, "prior_", None)
        out = {f"prior/{k}": v for k, v in prior._arrays().items()} if prior else {}
        if prior and getattr(self, "prior_cold_", None) is not None:
            out["prior_cold"] = self.prior_cold_
        if getattr(self, "members_", None):
            return out | {
                f"member{k}/{name}": value
                for k, member in enumerate(self.members_)
                for name, value in member._arrays().items()
            }
        state = self.network_.state_dict()
        return out | {k: v.detach().cpu().numpy() for k, v in state.items()}

    def _state(self) -> dict[str, Any]:
        prior = {"prior_weight": getattr(self, "prior_weight_", 0.0)}
        if getattr(self, "members_", None):
            return {"layout": LAYOUT, **prior, "members": [m._state() for m in self.members_]}
        return {
            "layout": LAYOUT,
            **prior,
            "text_dim": int(self.network_.text.shape[1]),
            "best_epoch": int(self.best_epoch_),
            "log": self.log_,
        }

    def _restore(self, arrays, state) -> None:
        import torch

        self.members_ = None
        prior = {k.split("/", 1)[1]: arrays.pop(k) for k in list(arrays) if k.startswith("prior/")}
        self.prior_cold_ = arrays.pop("prior_cold", None)
        self.prior_weight_ = float(state.get("prior_weight", 0.0)) if prior else 0.0
        self.prior_ = None
        if prior:
            self.prior_ = ItemKNN(recent=self.cooccurrence)
            self.prior_.n_items_ = self.n_items_
            self.prior_._restore(prior, {})
        if "members" in state:
            parts = [
                (
                    {
                        k.split("/", 1)[1]: v
                        for k, v in arrays.items()
                        if k.startswith(f"member{i}/")
                    },
                    s,
                )
                for i, s in enumerate(state["members"])
            ]
            self._restore_members(parts)
            return
        if state.get("layout") != LAYOUT:  # same weight names, different computation
            raise RegistryError(
                "this SASRec was saved by an earlier tailorkit whose network was laid out "
                "differently (pre-norm blocks); its weights would load but score wrongly. "
                "Retrain it with `tailorkit run`."
            )
        self.network_ = build_network(self.n_items_, self, int(state.get("text_dim", 0)))
        self.network_.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()})
        self.network_.eval()
        self._table = self._session = None
        self.best_epoch_ = state.get("best_epoch", 0)
        self.log_ = state.get("log", [])


def _fit_member(params: dict, seed: int, data: TrainingSequences, valid: Validation | None):
    """One member of a seed bag (in a worker process): its arrays and JSON state."""
    member = SASRec(**{**params, "random_state": seed}).fit(data, valid)
    return member._arrays(), {**member._state(), "pretrain_seconds": member.pretrain_seconds_}
