"""FT-Transformer: learning, pretraining, determinism, persistence and the sklearn contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from tailorkit.models.ft_transformer import FTTransformer
from tailorkit.models.quantiles import apply_quantiles, fit_quantiles

TINY = {
    "d_token": 8,
    "n_blocks": 1,
    "n_heads": 2,
    "max_epochs": 8,
    "pretrain_epochs": 2,
    "learning_rate": 3e-3,
    "batch_size": 64,
}


def make_data(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric, categorical and missing values; the label depends on ``x1`` and ``color``."""
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal(n_rows)
    x2 = rng.standard_normal(n_rows)
    color = rng.choice(["red", "green", "blue"], size=n_rows)
    logit = 2.5 * x1 + 1.5 * (color == "red") - 0.5
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {"x1": x1, "x2": x2, "color": color, "size": rng.choice(["s", "m"], n_rows)}
    )
    frame.loc[rng.random(n_rows) < 0.1, "x2"] = np.nan
    frame.loc[rng.random(n_rows) < 0.1, "color"] = None
    return frame, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    X, y = make_data(400, seed=0)
    X_test, y_test = make_data(300, seed=1)
    return X, y, X_test, y_test


@pytest.fixture(scope="module")
def fitted(data) -> FTTransformer:
    X, y, _, _ = data
    return FTTransformer(**TINY, pretrain=False, random_state=3).fit(X, y)


def test_predict_proba_shape_range_and_signal(fitted, data):
    _, _, X_test, y_test = data
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.7


def test_importances_one_per_raw_feature_summing_to_one(fitted):
    importances = fitted.feature_importances_
    assert list(importances.index) == ["x1", "x2", "color", "size"]
    assert importances.sum() == pytest.approx(1.0)
    assert (importances >= 0).all()
    assert np.isfinite(importances).all()


def test_pretraining_runs_with_unlabeled_rows(data):
    X, y, X_test, y_test = data
    X_unlabeled, _ = make_data(200, seed=2)
    X_unlabeled.loc[0, "color"] = "purple"  # a level that only unlabeled rows hold
    model = FTTransformer(**TINY, pretrain=True, random_state=0)
    model.fit(X, y, X_unlabeled=X_unlabeled)
    assert model.pretrain_epochs_ >= 1 and model.epochs_ >= 1
    assert roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]) > 0.7
    base = FTTransformer(**TINY, pretrain=True, random_state=0).fit(X, y)  # labeled rows only
    assert not np.allclose(model.predict_proba(X_test), base.predict_proba(X_test))


def test_same_seed_gives_identical_predictions(data):
    X, y, X_test, _ = data
    first = FTTransformer(**TINY, pretrain=True, random_state=7).fit(X, y).predict_proba(X_test)
    second = FTTransformer(**TINY, pretrain=True, random_state=7).fit(X, y).predict_proba(X_test)
    other = FTTransformer(**TINY, pretrain=True, random_state=8).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_save_load_round_trip_without_pickle(fitted, data, tmp_path):
    from tailorkit.models import load_model

    _, _, X_test, _ = data
    fitted.save(tmp_path / "ft")
    files = sorted(p.name for p in (tmp_path / "ft").iterdir())
    assert files == ["model.json", "weights.safetensors"]
    loaded = load_model(tmp_path / "ft")
    assert isinstance(loaded, FTTransformer)
    np.testing.assert_allclose(
        loaded.predict_proba(X_test), fitted.predict_proba(X_test), rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(loaded.importances_, fitted.importances_)


def test_unseen_categories_and_missing_values_at_predict_time(fitted, data):
    _, _, X_test, _ = data
    odd = X_test.head(5).copy()
    odd["color"] = ["violet", None, "red", "", "blue"]
    odd["x1"] = [np.nan, 1e9, -1e9, 0.0, 0.5]
    proba = fitted.predict_proba(odd)[:, 1]
    assert proba.shape == (5,) and np.isfinite(proba).all()
    unseen = X_test.head(1).loc[[X_test.index[0]] * 2].assign(color=["violet", "spaceship"])
    assert np.ptp(fitted.predict_proba(unseen)[:, 1]) == 0  # every unseen level alike


def test_clone_keeps_params_and_drops_fitted_state(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "network_")


def test_quantile_transform_is_monotone_and_bounded():
    rng = np.random.default_rng(0)
    block = np.column_stack([rng.lognormal(size=500), rng.integers(0, 2, 500)]).astype(np.float32)
    knots = fit_quantiles(block)
    assert knots[1] is None  # a 0/1 column stays as it is
    out = apply_quantiles(np.array([[-1e6, 0.0], [1.0, 1.0], [1e6, 1.0]], np.float32), knots)
    assert out[0, 0] < out[1, 0] < out[2, 0]
    assert np.abs(out[:, 0]).max() < 3.2
    np.testing.assert_array_equal(out[:, 1], [0.0, 1.0, 1.0])


@pytest.mark.slow
def test_attention_dropout_is_unbiased_and_off_in_eval():
    import torch

    from tailorkit.models.ft_network import SelfAttention

    torch.manual_seed(0)
    attention = SelfAttention(8, 2, dropout=0.5)
    x = torch.randn(4, 5, 8)
    attention.eval()
    with torch.no_grad():
        reference, _ = attention(x)
        explicit, weights = attention(x, need_weights=True)  # explicit path, no dropout
        attention.train()
        draws = torch.stack([attention(x)[0] for _ in range(4000)])
    torch.testing.assert_close(explicit, reference, rtol=1e-5, atol=1e-5)
    assert weights.shape == (4, 5, 5)
    assert not torch.allclose(draws[0], draws[1])  # dropout acts while training
    torch.testing.assert_close(draws.mean(0), reference, rtol=0, atol=0.03)


def test_keep_mask_rate_and_scale():
    import torch

    from tailorkit.models.ft_network import ByteDropout, keep_mask

    torch.manual_seed(0)
    mask = keep_mask(torch.Size((400, 500)), 0.2)
    assert mask.dtype == torch.float32 and mask.shape == (400, 500)
    kept = mask > 0
    assert abs(kept.float().mean().item() - (1 - 51 / 256)) < 0.005  # rate rounded to 1/256
    assert torch.allclose(mask[kept], torch.tensor(256 / 205))  # inverted-dropout scale
    assert abs(mask.mean().item() - 1.0) < 0.01  # unbiased
    dropout = ByteDropout(0.2)
    x = torch.randn(3, 7)
    assert torch.equal(dropout.eval()(x), x)


def test_cls_only_last_block_equals_the_full_network():
    """The head reads [CLS] alone, so the last block may skip the other rows' outputs."""
    import torch
    from torch.nn import functional as F

    from tailorkit.models.ft_network import FTNetwork

    torch.manual_seed(0)
    network = FTNetwork(
        n_numeric=5,
        cardinalities=[3, 4],
        d_token=16,
        n_blocks=3,
        n_heads=4,
        ffn_hidden=21,
        attention_dropout=0.2,
        ffn_dropout=0.1,
        residual_dropout=0.0,
    ).eval()
    numeric, categorical = torch.randn(40, 5), torch.randint(0, 3, (40, 2))
    with torch.no_grad():
        tokens = network.tokenize(numeric, categorical)
        hidden, weights = network.encode(tokens, need_weights=True)
        full = network.head(F.relu(network.head_norm(hidden[:, 0]))).squeeze(-1)
        cls_hidden, cls_weights = network.encode(tokens, need_weights=True, cls_only=True)
        assert hidden.shape == (40, 8, 16) and cls_hidden.shape == (40, 1, 16)
        torch.testing.assert_close(network(numeric, categorical), full)
        torch.testing.assert_close(cls_weights[:, 0], weights[:, 0])
        torch.testing.assert_close(cls_hidden[:, 0], hidden[:, 0])


def test_small_tables_bag_three_networks_and_save_them(data, tmp_path):
    import torch

    from tailorkit.models import load_model
    from tailorkit.models.ft_network import FTBag, FTNetwork

    X, y, X_test, _ = data
    bagged = FTTransformer(**TINY, random_state=3).fit(X, y)  # 400 rows: auto bags
    assert isinstance(bagged.network_, FTBag) and len(bagged.network_.members) == 3
    first, second = (m.head.weight for m in bagged.network_.members[:2])
    assert not torch.equal(first, second)  # own initialisation and inner split
    numeric, categorical = bagged._encode(X_test)
    with torch.no_grad():
        members = [m(numeric, categorical) for m in bagged.network_.members]
    expected = torch.sigmoid(torch.stack(members).mean(0)).double().numpy()
    np.testing.assert_allclose(bagged.predict_proba(X_test)[:, 1], expected, rtol=1e-6)
    reloaded = load_model(bagged.save(tmp_path / "bag"))
    np.testing.assert_array_equal(reloaded.predict_proba(X_test), bagged.predict_proba(X_test))
    single = FTTransformer(**TINY, n_bags=1, random_state=3).fit(X, y)
    assert isinstance(single.network_, FTNetwork)


def test_bagging_is_settled_by_the_whole_data_set_not_by_each_fold(project_dir):
    """A fold just under the size line and a refit just over it fit the same model."""
    from tailorkit import Project
    from tailorkit.models.ft_transformer import SMALL_TABLE_ROWS
    from tailorkit.solutions.credit_risk.train import make_candidates

    assert FTTransformer().sized_for(SMALL_TABLE_ROWS + 1).n_bags == 1
    assert FTTransformer().sized_for(SMALL_TABLE_ROWS).n_bags == 3
    assert FTTransformer(n_bags=2).sized_for(10).n_bags == 2  # an explicit choice stays
    project = Project.from_yaml(project_dir / "tailorkit.yaml")
    project.spec.models = ["ft_transformer"]
    big = make_candidates(project.spec, SMALL_TABLE_ROWS + 1)["ft_transformer"]
    small = make_candidates(project.spec, 100)["ft_transformer"]
    assert big.n_bags == 1 and small.n_bags == 3
