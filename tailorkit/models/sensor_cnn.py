"""1-D convolutional network over sensor windows (Li, Ding and Sun 2018, "Remaining useful
life estimation in prognostics using deep convolution neural networks"): convolutions along
time with 'same' padding, then the shared multi-task head.

Deviation from the paper: ``channels`` filters per layer (paper: 10) with ReLU and dropout,
the pooled head of ``SequenceRULModel`` instead of a flatten + dense layer, a quantile band,
a failure-within-horizon logit and optional masked-segment pretraining.
"""

from __future__ import annotations

from tailorkit.models.sensor_sequence import SequenceRULModel


class SensorCNN(SequenceRULModel):
    """``layers`` 1-D convolutions of ``channels`` filters and width ``kernel`` along time."""

    family = "sensor_cnn"

    def __init__(
        self,
        *,
        channels: int = 32,
        kernel: int = 5,
        layers: int = 4,
        dropout: float = 0.1,
        pretrain: bool = True,
        pretrain_epochs: int = 5,
        max_epochs: int = 30,
        patience: int = 6,
        batch_size: int = 256,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.15,
        mask_rate: float = 0.3,
        mask_segment: int = 5,
        band_weight: float = 1.0,
        failure_weight: float = 0.1,
        summary_features: bool = True,
        n_threads: int = 1,
        random_state: int = 0,
    ):
        self.channels = channels
        self.kernel = kernel
        self.layers = layers
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
        self.n_threads = n_threads
        self.random_state = random_state

    def _encoder(self, n_inputs: int):
        from torch import nn

        blocks = []
        width = n_inputs
        for _ in range(self.layers):
            blocks += [
                nn.Conv1d(width, self.channels, self.kernel, padding="same"),
                nn.ReLU(),
                nn.Dropout(self.dropout),
            ]
            width = self.channels

        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.convolutions = nn.Sequential(*blocks)

            def forward(self, x):
                return self.convolutions(x.transpose(1, 2)).transpose(1, 2)

        return Encoder(), self.channels
