"""Clinical-note classifier on a pretrained Hugging Face encoder (MiniLM offline by default).

Three modes, chosen by ``mode``:

- ``frozen``: mean-pooled, L2-normalised sentence embeddings (Reimers and Gurevych 2019,
  Sentence-BERT) from the unchanged encoder, standardised, then an L2-regularised
  logistic-regression head (multinomial for more than two classes; ``head_C=None`` picks
  the regularisation by 3-fold CV on the training rows).
- ``finetune``: the whole encoder and a linear head on the mean-pooled output trained with
  cross-entropy (Devlin et al. 2019): AdamW, linear warm-up then decay, a fixed number of
  epochs, the head at ten times the encoder's learning rate.
- ``lora``: the same, but the encoder stays frozen and low-rank adapters on the attention
  query/value projections are trained (Hu et al. 2022, LoRA, through ``peft``); the saved
  model holds only the adapter and the head.

Notes longer than ``max_length`` tokens are truncated (``count_truncated`` tells how many);
empty notes get a zero embedding in ``frozen`` mode and the bare [CLS]/[SEP] input otherwise.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from tailorkit.errors import SpecError
from tailorkit.models.modality_base import ModalityModel
from tailorkit.models.text_encoder import encode_texts, load_encoder, mean_pool, resolve_encoder
from tailorkit.models.torch_utils import torch_session
from tailorkit.optional import require
from tailorkit.progress import tracked

HEAD_FILE = "head.safetensors"
MODES = ("frozen", "finetune", "lora")
HEAD_CS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def clean_texts(texts: Any) -> list[str]:
    """Notes as stripped strings; missing values become empty notes."""
    return ["" if t is None or t != t else str(t).strip() for t in list(texts)]


def count_truncated(texts: Any, encoder: str | None, max_length: int) -> int:
    """How many notes are longer than ``max_length`` tokens (and will be truncated)."""
    tokenizer, _ = load_encoder(encoder)
    notes = [t for t in clean_texts(texts) if t]
    if not notes:
        return 0
    lengths = tokenizer(notes, truncation=False, add_special_tokens=True)["input_ids"]
    return int(sum(len(ids) > max_length for ids in lengths))


_EMBEDDINGS: dict[tuple, np.ndarray] = {}
CACHE_LIMIT = 100_000


def cached_embeddings(texts: list[str], encoder: str | None, max_length: int) -> np.ndarray:
    """Frozen-encoder embeddings, remembered per (encoder, length, text) in this process so
    that cross-validation folds and candidates do not encode the same notes again."""
    keys = [(encoder, max_length, t) for t in texts]
    todo = list(dict.fromkeys(k for k in keys if k not in _EMBEDDINGS))
    if todo:
        vectors = encode_texts([k[2] for k in todo], encoder, max_length=max_length)
        if len(_EMBEDDINGS) + len(todo) > CACHE_LIMIT:
            _EMBEDDINGS.clear()
        _EMBEDDINGS.update(zip(todo, vectors, strict=True))
        if len(todo) > CACHE_LIMIT:
            return encode_texts(texts, encoder, max_length=max_length)
    return np.stack([_EMBEDDINGS[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)


class _FineTuned(nn.Module):
    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.encoder(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        return mean_pool(hidden, batch["attention_mask"])

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.dropout(self.embed(batch)))


class TextClassifier(ModalityModel):
    """Binary or multi-class classifier of free-text notes; ``fit(texts, y)``."""

    family = "text_classifier"
    modality = "text"

    def __init__(
        self,
        *,
        encoder: str | None = None,
        mode: str = "frozen",
        max_length: int = 256,
        head_C: float | None = None,
        max_epochs: int = 3,
        batch_size: int = 16,
        learning_rate: float | None = None,
        warmup_fraction: float = 0.1,
        lora_rank: int = 8,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ):
        self.encoder = encoder
        self.mode = mode
        self.max_length = max_length
        self.head_C = head_C
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_fraction = warmup_fraction
        self.lora_rank = lora_rank
        self.random_state = random_state
        self.n_threads = n_threads

    # ------------------------------------------------------------ training
    def _fit(self, inputs: Any, y: np.ndarray) -> None:
        if self.mode not in MODES:
            raise SpecError(f"text mode must be one of {', '.join(MODES)} (got {self.mode!r})")
        texts = clean_texts(inputs)
        seed = 0 if self.random_state is None else int(self.random_state)
        with torch_session(seed, self.n_threads):
            if self.mode == "frozen":
                self._fit_head(self.embed(texts), y)
            else:
                self._fine_tune(texts, y, seed)

    def _fit_head(self, embeddings: np.ndarray, y: np.ndarray) -> None:
        """Logistic regression on standardised embeddings, folded back into one linear map."""
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

        mean = embeddings.mean(axis=0)
        scale = embeddings.std(axis=0) + 1e-6
        if self.head_C is not None:
            head = LogisticRegression(C=self.head_C, max_iter=3000)
        else:  # regularisation chosen by 3-fold CV on the training rows only
            folds = int(min(3, np.bincount(y).min()))
            head = LogisticRegressionCV(
                Cs=HEAD_CS, cv=max(folds, 2), scoring="neg_log_loss", max_iter=3000
            )
        with warnings.catch_warnings():  # scikit-learn's notices about future defaults
            warnings.simplefilter("ignore", FutureWarning)
            head.fit((embeddings - mean) / scale, y)
        coef = head.coef_ / scale
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = (head.intercept_ - coef @ mean).astype(np.float32)

    def _fine_tune(self, texts: list[str], y: np.ndarray, seed: int) -> None:
        _require_text(self.mode)
        from transformers import AutoModel

        self.tokenizer_, _ = load_encoder(self.encoder)
        encoder = AutoModel.from_pretrained(resolve_encoder(self.encoder), use_safetensors=True)
        if self.mode == "lora":
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(
                r=self.lora_rank,
                lora_alpha=2 * self.lora_rank,
                lora_dropout=0.1,
                target_modules=["query", "value"],
            )
            encoder = get_peft_model(encoder, config)
        self.network_ = _FineTuned(encoder, len(self.classes_))
        rate = self.learning_rate or (1e-3 if self.mode == "lora" else 5e-5)
        groups = [
            {"params": [p for p in encoder.parameters() if p.requires_grad], "lr": rate},
            {"params": self.network_.head.parameters(), "lr": rate * 10},
        ]
        optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
        steps = self.max_epochs * math.ceil(len(texts) / self.batch_size)
        warmup = max(1, int(self.warmup_fraction * steps))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
        )
        generator = torch.Generator().manual_seed(seed)
        labels = torch.from_numpy(y)
        self.network_.train()
        for _epoch in tracked(range(self.max_epochs), "text_classifier: epochs"):
            order = torch.randperm(len(texts), generator=generator).tolist()
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                loss = F.cross_entropy(
                    self.network_(self._tokens([texts[i] for i in rows])), labels[rows]
                )
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.network_.parameters(), 1.0)
                optimizer.step()
                schedule.step()
        self.network_.eval()

    def _tokens(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer_(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )

    # ------------------------------------------------------------ inference
    def embed(self, inputs: Any) -> np.ndarray:
        """Sentence embeddings (n × hidden) from the encoder as this model uses it."""
        texts = clean_texts(inputs)
        if self.mode == "frozen":
            return cached_embeddings(texts, self.encoder, self.max_length)
        return self._run_network(texts, lambda batch: self.network_.embed(batch))

    def _predict_logits(self, inputs: Any) -> np.ndarray:
        texts = clean_texts(inputs)
        with torch_session(0, self.n_threads):
            if self.mode == "frozen":
                logits = self.embed(texts) @ self.coef_.T + self.intercept_
                return logits[:, 0] if logits.shape[1] == 1 else logits
            return self._run_network(texts, self.network_)

    def _run_network(self, texts: list[str], function) -> np.ndarray:
        self.network_.eval()
        order = np.argsort([len(t) for t in texts])  # similar lengths pad less
        out: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
        with torch.inference_mode():
            for start in range(0, len(order), 64):
                rows = order[start : start + 64]
                values = function(self._tokens([texts[i] for i in rows])).numpy()
                for row, value in zip(rows, values, strict=True):
                    out[row] = value
        return np.stack(out) if out else np.zeros((0, len(self.classes_)))

    # ---------------------------------------------------------- persistence
    def _save(self, path: Path) -> dict[str, Any]:
        if self.mode == "frozen":
            save_file(
                {
                    "coef": torch.from_numpy(self.coef_),
                    "intercept": torch.from_numpy(self.intercept_),
                },
                str(path / HEAD_FILE),
            )
            return {}
        head = {k: v.detach().contiguous() for k, v in self.network_.head.state_dict().items()}
        save_file(head, str(path / HEAD_FILE))
        encoder = self.network_.encoder
        folder = path / ("adapter" if self.mode == "lora" else "encoder")
        encoder.save_pretrained(str(folder), safe_serialization=True)
        if self.mode == "finetune":
            self.tokenizer_.save_pretrained(str(folder))
        return {"folder": folder.name}

    def _load(self, path: Path, state: dict[str, Any]) -> None:
        weights = load_file(str(path / HEAD_FILE))
        if self.mode == "frozen":
            self.coef_ = weights["coef"].numpy()
            self.intercept_ = weights["intercept"].numpy()
            return
        _require_text(self.mode)
        from transformers import AutoModel, AutoTokenizer

        folder = path / state["folder"]
        if self.mode == "lora":
            from peft import PeftModel

            self.tokenizer_, _ = load_encoder(self.encoder)
            base = AutoModel.from_pretrained(resolve_encoder(self.encoder), use_safetensors=True)
            encoder = PeftModel.from_pretrained(base, str(folder))
        else:
            self.tokenizer_ = AutoTokenizer.from_pretrained(str(folder))
            encoder = AutoModel.from_pretrained(str(folder), use_safetensors=True)
        self.network_ = _FineTuned(encoder, len(self.classes_))
        self.network_.head.load_state_dict(weights)
        self.network_.eval()


def _require_text(mode: str) -> None:
    """The text extra's packages that fine-tuning in ``mode`` imports (LoRA: peft too)."""
    modules = ("transformers", "peft") if mode == "lora" else ("transformers",)
    require(*modules, extra="text", feature=f"the text classifier ({mode} mode)")
