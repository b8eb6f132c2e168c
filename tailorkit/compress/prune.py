"""Global magnitude pruning of an FT-Transformer's weights, fine-tuned under the fixed mask."""

from __future__ import annotations

import copy

import torch
from torch import nn

from tailorkit.compress.distill import train_bce
from tailorkit.compress.split import CompressionData
from tailorkit.models.base import TabularModel


def prune_and_finetune(
    teacher: TabularModel,
    data: CompressionData,
    *,
    amount: float = 0.5,
    seed: int = 0,
    epochs: int = 10,
) -> tuple[nn.Module, float]:
    """Global magnitude pruning of every linear / attention projection weight (the smallest
    ``amount`` share set to zero), then fine-tuning with the labels under the fixed mask.
    Returns the pruned network and its share of zero weights."""
    network = copy.deepcopy(teacher.network_)
    weights = [m.weight for m in network.modules() if isinstance(m, nn.Linear)]
    weights += [m.in_proj_weight for m in network.modules() if hasattr(m, "in_proj_weight")]
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])
    cutoff = torch.kthvalue(magnitudes, max(1, int(amount * len(magnitudes)))).values
    masks = [(w.detach().abs() > cutoff).float() for w in weights]

    def apply_masks() -> None:
        with torch.no_grad():
            for weight, mask in zip(weights, masks, strict=True):
                weight.mul_(mask)

    apply_masks()
    numeric, categorical = teacher._encode(data.X_fit)
    target = torch.as_tensor(data.y_fit, dtype=torch.float32)
    train_bce(
        network,
        numeric,
        categorical,
        target,
        seed=seed,
        epochs=epochs,
        lr=1e-4,
        after_step=apply_masks,
    )
    zeros = sum(int((w == 0).sum()) for w in weights)
    return network.eval(), zeros / max(1, sum(w.numel() for w in weights))
