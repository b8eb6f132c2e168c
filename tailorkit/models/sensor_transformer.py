"""Transformer encoder over sensor windows (Vaswani et al. 2017; for RUL e.g. Mo et al. 2021,
"Remaining useful life estimation via transformer encoder enhanced by a gated convolutional
unit"): each time step's readings projected to ``d_model``, learned positions, pre-norm
self-attention blocks, then the shared multi-task head.

Deviation: no gated convolution unit; masked-segment pretraining (a BERT-style objective on
time steps) and the quantile band come from ``SequenceRULModel``.
"""

from __future__ import annotations

from tailorkit.models.sensor_sequence import SequenceRULModel


class SensorTransformer(SequenceRULModel):
    """``n_layers`` pre-norm encoder blocks of width ``d_model`` with ``n_heads`` heads."""

    family = "sensor_transformer"

    def __init__(
        self,
        *,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int = 64,
        dropout: float = 0.1,
        pretrain: bool = True,
        pretrain_epochs: int = 5,
        max_epochs: int = 30,
        patience: int = 6,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.15,
        mask_rate: float = 0.3,
        mask_segment: int = 5,
        band_weight: float = 1.0,
        failure_weight: float = 0.1,
        summary_features: bool = True,
        max_window: int = 512,
        n_threads: int = 1,
        random_state: int = 0,
    ):
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.pretrain = pretrain
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.mask_rate = mask_rate
        self.mask_segment = mask_segment
        self.band_weight = band_weight
        self.failure_weight = failure_weight
        self.summary_features = summary_features
        self.max_window = max_window
        self.n_threads = n_threads
        self.random_state = random_state

    def _encoder(self, n_inputs: int):
        import torch
        from torch import nn

        d_model, window = self.d_model, self.max_window
        layer = nn.TransformerEncoderLayer(
            d_model,
            self.n_heads,
            self.dim_feedforward,
            self.dropout,
            batch_first=True,
            norm_first=True,
        )
        n_layers = self.n_layers

        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.project = nn.Linear(n_inputs, d_model)
                self.position = nn.Parameter(torch.zeros(1, window, d_model))
                nn.init.normal_(self.position, std=0.02)
                self.blocks = nn.TransformerEncoder(
                    layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
                )

            def forward(self, x):
                steps = x.shape[1]
                return self.blocks(self.project(x) + self.position[:, -steps:])

        return Encoder(), d_model
