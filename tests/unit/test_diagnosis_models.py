"""Text, image, visit and fusion models beyond the catalogue's conformance suite: missing
modalities, multi-class text, image shapes, fine-tuning modes, pretrained backbones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tailorkit.data.patients import PatientInputs
from tailorkit.errors import DataError
from tailorkit.models import load_model as load_modality_model
from tailorkit.models import make_model
from tailorkit.models.cnn import ImageCNN
from tailorkit.models.text_classifier import TextClassifier
from tests.unit.test_model_conformance import TINY, patient_records, pickles_in


@pytest.fixture(scope="module")
def patients() -> tuple[PatientInputs, np.ndarray]:
    return patient_records()


def test_fusion_handles_missing_modalities_and_explains(patients):
    inputs, y = patients
    model = make_model("fusion", **TINY["fusion"]).fit(inputs, y)
    assert model.modalities_ == ["tabular", "text", "image", "visits"]
    sample = inputs.take(np.arange(6))
    sample.notes = ["", *sample.notes[1:]]
    sample.image_present = np.zeros(6, dtype=bool)
    sample.visit_lengths = np.zeros(6, dtype=np.int64)
    probability = model.predict_proba(sample)[:, 1]
    assert np.isfinite(probability).all()
    explained = model.explain(sample)
    assert {"[text]", "[image]", "[visits]", "age"} <= set(explained.columns)
    np.testing.assert_allclose(explained["[image]"], 0.0, atol=1e-9)  # absent: no effect


def test_multiclass_text_and_bad_labels():
    texts = ["chest pain"] * 6 + ["broken wrist"] * 6 + ["skin rash"] * 6
    y = np.repeat(["cardio", "ortho", "derm"], 6)
    model = TextClassifier(mode="frozen", max_length=16, n_threads=1).fit(texts, y)
    assert model.predict_proba(texts).shape == (18, 3)
    assert (model.predict(texts) == y).mean() > 0.9
    with pytest.raises(DataError, match="single class"):
        TextClassifier().fit(["a", "b"], [1, 1])


def test_image_cnn_resizes_and_rejects_bad_shapes(patients):
    inputs, y = patients
    model = ImageCNN(image_size=16, widths=(4,), max_epochs=1, n_threads=1).fit(inputs.images, y)
    assert model.predict_proba(np.zeros((3, 40, 30), np.uint8)).shape == (3, 2)
    with pytest.raises(DataError, match="shape"):
        model.predict_proba(np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("mode", ["finetune", "lora"])
def test_text_fine_tuning_modes_save_and_reload(mode, tmp_path: Path):
    texts = ["crushing chest pain", "no complaints today"] * 6
    y = np.array([1, 0] * 6)
    model = TextClassifier(mode=mode, max_length=12, max_epochs=1, batch_size=4, n_threads=1)
    probability = model.fit(texts, y).predict_proba(texts)
    folder = model.save(tmp_path / mode)
    assert (folder / ("adapter" if mode == "lora" else "encoder")).is_dir()
    assert pickles_in(folder) == []
    np.testing.assert_allclose(
        load_modality_model(folder).predict_proba(texts), probability, atol=1e-5
    )


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_resnet18_backbone_loads_torchvision_named_weights_and_round_trips(
    suffix, patients, tmp_path: Path
):
    import torch
    from safetensors.torch import save_file

    from tailorkit.errors import SpecError
    from tailorkit.models.cnn import ImageNetResNet

    inputs, y = patients
    # A state dict laid out as torchvision's resnet18 (classifier included) from a seeded net.
    torch.manual_seed(5)
    published = {k: v.clone() for k, v in ImageNetResNet("resnet18").state_dict().items()}
    assert "layer2.0.downsample.0.weight" in published and "layer1.1.bn2.running_var" in published
    published["fc.weight"], published["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    weights = tmp_path / f"resnet18{suffix}"
    if suffix == ".pth":
        torch.save(published, weights)  # what torchvision publishes: tensors only
    else:
        save_file({k: v.contiguous() for k, v in published.items()}, str(weights))
    model = ImageCNN(
        backbone="resnet18",
        image_size=32,
        max_epochs=1,
        learning_rate=1e-9,
        pretrained_path=str(weights),
        n_threads=1,
    ).fit(inputs.images, y)
    assert model.pretrained_tensors_ == len(published) - 2  # every trunk tensor, no classifier
    trained = model.network_.trunk.conv1.weight.detach()
    assert torch.allclose(trained, published["conv1.weight"], atol=1e-4)
    reloaded = load_modality_model(model.save(tmp_path / "model"))
    np.testing.assert_allclose(
        reloaded.predict_proba(inputs.images), model.predict_proba(inputs.images), atol=1e-6
    )
    assert pickles_in(tmp_path / "model") == []

    small = tmp_path / "small.safetensors"
    save_file({"stem.0.weight": torch.zeros(4, 1, 3, 3)}, str(small))
    with pytest.raises(SpecError, match="does not match the image backbone 'resnet18'"):
        ImageCNN(backbone="resnet18", image_size=32, max_epochs=1, pretrained_path=str(small)).fit(
            inputs.images, y
        )
    with pytest.raises(SpecError, match="backbone 'vgg11' is unknown"):
        ImageCNN(backbone="vgg11", max_epochs=1).fit(inputs.images, y)
