"""A small ResNet-style CNN for small grey-scale images (chest X-rays, scans), from scratch.

He, Zhang, Ren and Sun (2016), "Deep Residual Learning for Image Recognition": a 3×3 stem,
then one stage of basic residual blocks per width (the first of each later stage halves the
resolution), global average pooling and a linear head.

Deviations from the paper, for 28–64 px grey-scale inputs on a CPU:

- A 3×3 stem without max-pooling and three narrow stages (``widths``) instead of ResNet-18's
  7×7 stem and 64–512 channels; dropout before the head.
- Standard augmentation during training: random affine (rotation ±``rotation`` degrees,
  shift up to ``shift`` of the side, scale 0.9–1.1) and brightness/contrast jitter; no flips
  by default (anatomy has a side).
- Early stopping on a validation set (given to ``fit`` or an inner stratified split) by
  validation log loss, best weights restored.
- The budget is ``max_epochs`` with early stopping; ``time_limit`` (seconds, off by
  default) is an opt-in safety cap: when it cuts training short, results depend on machine
  speed.
- ``backbone``: ``"small"`` (the network above) or ``"resnet18"`` / ``"resnet34"``: the
  ImageNet ResNets with torchvision's and timm's parameter names (no torchvision needed;
  its Linux wheels here are CUDA builds that do not load beside the CPU torch), the grey
  channel repeated to three; ``image_size`` should then suit them (e.g. 64–224).
- ``pretrained_path``: weights loaded into the trunk before training, the head starting
  fresh: a ``.safetensors`` file (timm's or torchvision's ResNet weights as published on
  Hugging Face, or a tailorkit CNN trained on a larger image set) or a torchvision
  ``.pth``/``.pt`` state dict, read with ``torch.load(weights_only=True)`` (tensors only, no
  code runs). Parameters match by name and shape; the classifier is skipped. Nothing is
  downloaded. The saved model is always safetensors.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F

from tailorkit.data.patients import as_image_batch
from tailorkit.errors import SpecError
from tailorkit.models.modality_base import ModalityModel
from tailorkit.models.torch_utils import deadline_after, torch_session
from tailorkit.progress import tracked

WEIGHTS_FILE = "weights.safetensors"
PREDICT_BATCH = 512


class BasicBlock(nn.Module):
    def __init__(self, d_in: int, d_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(d_in, d_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(d_out)
        self.conv2 = nn.Conv2d(d_out, d_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(d_out)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(d_in, d_out, 1, stride, bias=False), nn.BatchNorm2d(d_out))
            if stride != 1 or d_in != d_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetTrunk(nn.Module):
    """Image (n, 1, H, W) -> embedding (n, widths[-1]); reused by the fusion model."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96), blocks_per_stage: int = 1):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        layers, d_in = [], widths[0]
        for index, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(BasicBlock(d_in, width, stride))
                d_in = width
        self.stages = nn.Sequential(*layers)
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x)).mean(dim=(2, 3))


class ImageNetResNet(nn.Module):
    """ResNet-18 / ResNet-34 (He et al. 2016) with torchvision's and timm's parameter names
    (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``, ...), so their
    pretrained state dicts load by name; no classifier: (n, 1, H, W) grey images (repeated
    to three channels) -> pooled 512 features."""

    DEPTHS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
    out_features = 512

    def __init__(self, name: str):
        super().__init__()
        if name not in self.DEPTHS:
            raise SpecError(
                f"image_model backbone '{name}' is unknown; choose small, " + ", ".join(self.DEPTHS)
            )
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        d_in = 64
        widths = (64, 128, 256, 512)
        for index, (width, blocks) in enumerate(zip(widths, self.DEPTHS[name], strict=True)):
            layers = []
            for block in range(blocks):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(_NamedBasicBlock(d_in, width, stride))
                d_in = width
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x.expand(-1, 3, -1, -1)))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))


class _NamedBasicBlock(nn.Module):
    """torchvision's ``BasicBlock`` layout (conv1/bn1/conv2/bn2, downsample.0/.1)."""

    def __init__(self, d_in: int, d_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(d_in, d_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(d_out)
        self.conv2 = nn.Conv2d(d_out, d_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(d_out)
        self.downsample = None
        if stride != 1 or d_in != d_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(d_in, d_out, 1, stride, bias=False), nn.BatchNorm2d(d_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


DEFAULT_WIDTHS = (24, 48, 96)  # the small ResNet's stages (``widths=None``)


def image_trunk(backbone: str, widths, blocks_per_stage: int = 1) -> nn.Module:
    """The image trunk of a backbone: the small ResNet of ``widths`` or an ImageNet ResNet."""
    if backbone == "small":
        return ResNetTrunk(tuple(widths), blocks_per_stage)
    return ImageNetResNet(backbone)


def load_trunk_weights(trunk: nn.Module, pretrained_path: str, backbone: str) -> int:
    """Load the tensors of ``pretrained_path`` that match ``trunk`` by name and shape (a
    ``trunk.`` prefix dropped); returns how many. Nothing matching is a ``SpecError``."""
    path = Path(pretrained_path).expanduser()
    if not path.exists():
        raise SpecError(
            f"pretrained_path '{path}' does not exist (a .safetensors or torchvision .pth file)"
        )
    if path.suffix == ".safetensors":
        weights = load_file(str(path))
    else:
        try:
            weights = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as error:
            raise SpecError(
                f"pretrained_path '{path}' is not a state dict of tensors ({error})"
            ) from None
    expected = trunk.state_dict()
    state = {}
    for key, value in weights.items():
        name = key.removeprefix("trunk.")
        if name in expected and expected[name].shape == value.shape:
            state[name] = value
    if not state:
        raise SpecError(
            f"pretrained_path '{path}' does not match the image backbone "
            f"'{backbone}' (no parameter name and shape in common)"
        )
    trunk.load_state_dict(state, strict=False)
    return len(state)


class _Network(nn.Module):
    def __init__(self, widths, blocks_per_stage, n_classes, dropout, backbone="small"):
        super().__init__()
        self.trunk = image_trunk(backbone, widths, blocks_per_stage)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.trunk.out_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.trunk(x)))


def augment(batch: torch.Tensor, rotation: float, shift: float, generator) -> torch.Tensor:
    """Random affine (rotate, shift, scale) and brightness/contrast jitter, per image."""
    n = batch.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-rotation, rotation) * np.pi / 180.0
    scale = uniform(0.9, 1.1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin, uniform(-2 * shift, 2 * shift)], 1),
            torch.stack([sin, cos, uniform(-2 * shift, 2 * shift)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    moved = F.grid_sample(batch, grid, padding_mode="border", align_corners=False)
    contrast = uniform(0.85, 1.15).view(n, 1, 1, 1)
    brightness = uniform(-0.1, 0.1).view(n, 1, 1, 1)
    return moved * contrast + brightness


def pick_validation(n: int, y: np.ndarray, fraction: float, seed: int):
    """Inner stratified (train, validation) indices used for early stopping."""
    counts = np.bincount(y)
    stratify = y if counts.min() >= 2 else None
    return train_test_split(np.arange(n), test_size=fraction, stratify=stratify, random_state=seed)


class ImageCNN(ModalityModel):
    """ResNet-style image classifier; ``fit(images, y, validation=(images, y))``."""

    family = "image_cnn"
    modality = "image"

    def __init__(
        self,
        *,
        image_size: int = 28,
        widths: list[int] | None = None,
        blocks_per_stage: int = 1,
        dropout: float = 0.2,
        max_epochs: int = 40,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        weight_decay: float = 5e-4,
        augmentation: bool = True,
        rotation: float = 10.0,
        shift: float = 0.08,
        validation_fraction: float = 0.15,
        patience: int = 8,
        time_limit: float | None = None,
        backbone: str = "small",
        pretrained_path: str | None = None,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ):
        self.image_size = image_size
        self.backbone = backbone
        self.widths = widths
        self.blocks_per_stage = blocks_per_stage
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.augmentation = augmentation
        self.rotation = rotation
        self.shift = shift
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.time_limit = time_limit
        self.pretrained_path = pretrained_path
        self.random_state = random_state
        self.n_threads = n_threads

    # ------------------------------------------------------------ training
    def _fit(self, inputs: Any, y: np.ndarray, validation: tuple | None = None) -> None:
        images = as_image_batch(inputs, self.image_size)
        seed = 0 if self.random_state is None else int(self.random_state)
        if validation is not None:
            valid_images = as_image_batch(validation[0], self.image_size)
            valid_y = np.searchsorted(self.classes_, np.asarray(validation[1]))
            train_images, train_y = images, y
        else:
            train, valid = pick_validation(len(y), y, self.validation_fraction, seed)
            train_images, train_y = images[train], y[train]
            valid_images, valid_y = images[valid], y[valid]
        self.mean_ = float(train_images.mean())
        self.std_ = float(train_images.std() + 1e-6)
        with torch_session(seed, self.n_threads):
            self.network_ = self._build()
            if self.pretrained_path:
                self.pretrained_tensors_ = load_trunk_weights(
                    self.network_.trunk, self.pretrained_path, self.backbone
                )
            self._train(train_images, train_y, valid_images, valid_y, seed)

    def _build(self) -> _Network:
        return _Network(
            self.widths or DEFAULT_WIDTHS,
            self.blocks_per_stage,
            len(self.classes_),
            self.dropout,
            self.backbone,
        )

    def _tensor(self, images: np.ndarray) -> torch.Tensor:
        return ((torch.from_numpy(images) - self.mean_) / self.std_).unsqueeze(1)

    def _train(self, images, y, valid_images, valid_y, seed) -> None:
        network = self.network_
        generator = torch.Generator().manual_seed(seed)
        x_train, y_train = self._tensor(images), torch.from_numpy(y)
        x_valid, y_valid = self._tensor(valid_images), torch.from_numpy(valid_y)
        steps_per_epoch = max(1, int(np.ceil(len(y) / self.batch_size)))
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, self.learning_rate, total_steps=steps_per_epoch * self.max_epochs
        )
        best_loss, best_state, since_best = np.inf, None, 0
        end = deadline_after(self.time_limit)
        self.epochs_ = 0
        for _epoch in tracked(range(self.max_epochs), "image_cnn: epochs"):
            network.train()
            order = torch.randperm(len(y), generator=generator)
            for start in range(0, len(y), self.batch_size):
                rows = order[start : start + self.batch_size]
                if len(rows) < 2:
                    continue
                batch = x_train[rows]
                if self.augmentation:
                    batch = augment(batch, self.rotation, self.shift, generator)
                loss = F.cross_entropy(network(batch), y_train[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
            self.epochs_ += 1
            loss = F.cross_entropy(self._logits(x_valid), y_valid).item()
            if loss < best_loss - 1e-4:
                best_loss, since_best = loss, 0
                best_state = {k: v.clone() for k, v in network.state_dict().items()}
            else:
                since_best += 1
            if since_best >= self.patience or time.monotonic() > end:
                break
        if best_state is not None:
            network.load_state_dict(best_state)
        network.eval()
        self.validation_loss_ = float(best_loss)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        self.network_.eval()
        with torch.inference_mode():
            return torch.cat(
                [self.network_(x[s : s + PREDICT_BATCH]) for s in range(0, len(x), PREDICT_BATCH)]
            )

    # ------------------------------------------------------------ inference
    def _predict_logits(self, inputs: Any) -> np.ndarray:
        images = as_image_batch(inputs, self.image_size)
        with torch_session(0, self.n_threads):
            return self._logits(self._tensor(images)).numpy()

    def embed(self, inputs: Any) -> np.ndarray:
        """Trunk embeddings (n × widths[-1]) of images."""
        x = self._tensor(as_image_batch(inputs, self.image_size))
        self.network_.eval()
        with torch.inference_mode():
            return self.network_.trunk(x).numpy()

    # ---------------------------------------------------------- persistence
    def _save(self, path: Path) -> dict[str, Any]:
        state = {k: v.detach().contiguous() for k, v in self.network_.state_dict().items()}
        save_file(state, str(path / WEIGHTS_FILE))
        return {"mean": self.mean_, "std": self.std_, "epochs": self.epochs_}

    def _load(self, path: Path, state: dict[str, Any]) -> None:
        self.mean_, self.std_, self.epochs_ = state["mean"], state["std"], state["epochs"]
        self.network_ = self._build()
        self.network_.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
        self.network_.eval()
