"""LSTM over sensor windows (Zheng et al. 2017, "Long Short-Term Memory Network for Remaining
Useful Life Estimation"): stacked LSTM layers, then the shared multi-task head.

Deviation from the paper: the head pools the last step and the mean over steps, predicts a
quantile band and a failure-within-horizon logit beside the RUL point; optional masked-segment
pretraining (``SequenceRULModel``).
"""

from __future__ import annotations

from tailorkit.models.sensor_sequence import SequenceRULModel


class SensorLSTM(SequenceRULModel):
    """Stacked LSTM encoder; ``hidden`` units per layer, ``layers`` layers."""

    family = "sensor_lstm"

    def __init__(
        self,
        *,
        hidden: int = 48,
        layers: int = 2,
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
        self.hidden = hidden
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

        class Encoder(nn.Module):
            def __init__(self, hidden: int, layers: int, dropout: float):
                super().__init__()
                self.lstm = nn.LSTM(
                    n_inputs,
                    hidden,
                    num_layers=layers,
                    batch_first=True,
                    dropout=dropout if layers > 1 else 0.0,
                )

            def forward(self, x):
                return self.lstm(x)[0]

        return Encoder(self.hidden, self.layers, self.dropout), self.hidden
