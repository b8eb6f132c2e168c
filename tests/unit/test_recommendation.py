"""Recommendation: data layer, splits, ranking metrics, the models' own behaviour, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tailorkit import load_spec
from tailorkit.data.interactions import (
    blocked_items,
    build_interactions,
    leave_one_out,
    parse_rule,
    parse_timestamps,
    temporal_split,
    withhold_items,
)
from tailorkit.data.simulators.shoppers import simulate_shop
from tailorkit.errors import DataError, RegistryError, SpecError
from tailorkit.evaluate.ranking import (
    bootstrap_interval,
    coverage,
    evaluate_scorer,
    ranking_metrics,
    seen_mask,
    target_ranks,
    top_k,
)
from tailorkit.gates import parse_requirement
from tailorkit.models import load_model, make_model
from tailorkit.models.recommender import TrainingSequences, Validation
from tailorkit.models.sasrec_network import left_pad as _left_pad
from tailorkit.models.sasrec_network import member_budget
from tailorkit.report.recommendation_report import validation_curves
from tailorkit.solutions.recommendation.document import rank_by_validation
from tailorkit.solutions.recommendation.spec import METRICS
from tests.unit.test_model_conformance import TINY


@pytest.fixture(scope="module")
def shop():
    return simulate_shop(n_users=120, n_items=50, n_cold=4, random_state=3)


@pytest.fixture(scope="module")
def shop_data(shop):
    events, products, _ = shop
    return build_interactions(
        events,
        source="events.csv",
        user_col="user_id",
        item_col="item_id",
        time_col="timestamp",
        event_col="event",
        event_weights={"view": 1, "cart": 2, "purchase": 4},
        items=products,
        item_key="item_id",
        text_columns=["title", "department"],
    )


# ------------------------------------------------------------------ metrics
def test_ranks_and_metrics_match_hand_computed_values():
    scores = np.array([[0.9, 0.5, 0.7, 0.1], [0.2, 0.2, 0.2, 0.9]])
    # case 0: target 2 -> beaten by item 0 only; item 0 is seen -> rank 1
    # case 1: target 1 ties item 0 (lower index wins) and loses to item 3 -> rank 3
    excluded = seen_mask([np.array([0]), np.array([], dtype=int)], 4)
    ranks = target_ranks(scores, np.array([2, 1]), excluded)
    assert ranks.tolist() == [1, 3]
    metrics = ranking_metrics(ranks, (1, 2, 5))
    assert metrics["hr@1"] == 0.5 and metrics["hr@2"] == 0.5 and metrics["hr@5"] == 1.0
    assert metrics["ndcg@5"] == pytest.approx((1.0 + 1.0 / math.log2(4)) / 2)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert metrics["recall@5"] == metrics["hr@5"]


def test_seen_target_cannot_be_hit_and_top_k_breaks_ties_by_index():
    scores = np.array([[1.0, 1.0, 0.5]])
    ranks = target_ranks(scores, np.array([1]), seen_mask([np.array([1])], 3))
    assert ranks[0] == 4  # excluded target: beyond the catalogue
    assert top_k(scores, 2).tolist() == [[0, 1]]
    tops = np.array([[0, 1], [0, 2]])
    assert coverage(tops, 4, 2) == 0.75


def test_bootstrap_interval_contains_the_mean():
    ranks = np.array([1, 5, 20, 100, 2, 8] * 20)
    low, high = bootstrap_interval(ranks, "hr@10", 200, seed=0)
    hr = ranking_metrics(ranks)["hr@10"]
    assert hr == pytest.approx(2 / 3) and low < hr < high
    assert 0.1 < high - low < 0.25  # 120 cases at 2/3: about +-1.96 * 0.043


def test_requirements_accept_metric_names_with_at():
    assert parse_requirement("ndcg@10 >= 0.05", METRICS).metric == "ndcg@10"
    with pytest.raises(SpecError, match="unknown metric"):
        parse_requirement("ndcg@11 >= 0.05", METRICS)


# --------------------------------------------------------------------- data
def test_the_champion_is_chosen_on_validation_never_on_test(tmp_path):
    rows = [
        {"model": "popularity", "ndcg@10": 0.30, "valid_ndcg@10": 0.10},
        {"model": "sasrec", "ndcg@10": 0.20, "valid_ndcg@10": 0.25},
        {"model": "sasrec (no pretraining)", "ndcg@10": 0.40, "valid_ndcg@10": 0.20},
        {"model": "no validation cases", "ndcg@10": 0.90, "valid_ndcg@10": None},
    ]
    ranked = [r["model"] for r in rank_by_validation(rows, "ndcg@10")]
    assert ranked == ["sasrec", "sasrec (no pretraining)", "popularity", "no validation cases"]

    spec = {"name": "shop", "solution": "recommendation", "data": {"interactions": "e.csv"}}
    spec["evaluation"] = {"metric": "coverage@10"}
    (tmp_path / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"evaluation.metric.*hr@K, ndcg@K, recall@K or mrr"):
        load_spec(tmp_path / "tailorkit.yaml")


def test_timestamps_in_mixed_formats_and_a_bad_one():
    values = pd.Series([1700000000, "1700000060000", "2023-11-14T22:15:00Z", "2023/11/14 22:16"])
    seconds = parse_timestamps(values, "events.csv", "ts")
    assert seconds[0] == 1700000000 and seconds[1] == 1700000060
    assert seconds[2] == pd.Timestamp("2023-11-14T22:15:00Z").timestamp()
    assert seconds[3] == pd.Timestamp("2023-11-14 22:16", tz="UTC").timestamp()
    with pytest.raises(DataError, match=r"events.csv row 3: column 'ts' value 'soon'"):
        parse_timestamps(pd.Series(["2023-01-01", "soon"]), "events.csv", "ts")


def test_dirty_interactions_are_counted_not_lost():
    events = pd.DataFrame(
        {
            "u": ["a", "a", "a", "a", "b", "c", "c"],
            "i": ["x", "y", "y", "z", "x", "x", "ghost"],
            "t": [1, 2, 2, 3, 5, 1, 1],
        }
    )
    items = pd.DataFrame({"i": ["x", "y", "z", "w"], "title": ["X", "Y", None, "W"]})
    data = build_interactions(
        events,
        source="ev.csv",
        user_col="u",
        item_col="i",
        time_col="t",
        items=items,
        item_key="i",
        text_columns=["title"],
    )
    assert data.counts["duplicate_events"] == 1
    assert data.counts["items_missing_from_table"] == 1
    assert data.counts["single_interaction_users"] == 1  # b
    assert data.counts["items_without_text"] == 2  # z (empty title) and ghost
    assert data.n_items == 5 and "ghost" in list(data.item_ids) and "w" in list(data.item_ids)
    assert any("missing from the item table" in w for w in data.warnings)
    seqs, times = data.sequences()
    user_c = list(data.user_ids).index("c")
    # ties keep file order: c's x (row 6) before ghost (row 7)
    assert [data.item_ids[i] for i in seqs[user_c]] == ["x", "ghost"]


def test_the_value_column_scales_weights_drops_returns_and_rejects_text():
    events = pd.DataFrame(
        {
            "u": ["a", "a", "a", "b", "b"],
            "i": ["x", "y", "x", "x", "z"],
            "t": [1, 2, 3, 1, 2],
            "kind": ["view", "buy", "buy", "buy", "buy"],
            "qty": [1, 3, 2, 0, -1],
        }
    )
    common = dict(source="ev.csv", user_col="u", item_col="i", time_col="t", event_col="kind")
    data = build_interactions(
        events, event_weights={"view": 1, "buy": 4}, value_col="qty", **common
    )
    assert data.counts["non_positive_values"] == 2  # b's zero and negative quantities
    assert any("2 events with qty <= 0" in w for w in data.warnings)
    seqs, _ = data.sequences()
    a = list(data.user_ids).index("a")
    assert [data.item_ids[i] for i in seqs[a]] == ["x", "y"]
    # a's x: viewed once (1 x 1) then bought twice (4 x 2), repeats merged into the first
    mine = data.users == a
    by_item = dict(zip(data.item_ids[data.items[mine]], data.weights[mine], strict=True))
    assert by_item == {"x": 9.0, "y": 12.0}
    assert list(data.user_ids) == ["a"]  # b had only a zero and a negative quantity
    bad = events.assign(qty=["1", "2", "two", None, "1"])
    with pytest.raises(
        DataError, match=r"ev.csv row 4: column 'qty' value 'two' is not a number \(2"
    ):
        build_interactions(bad, value_col="qty", **common)


def test_missing_column_and_empty_id_are_clear_errors():
    events = pd.DataFrame({"u": ["a", None], "i": ["x", "y"], "t": [1, 2]})
    with pytest.raises(DataError, match="column 'time' not found"):
        build_interactions(events, source="e.csv", user_col="u", item_col="i", time_col="time")
    with pytest.raises(DataError, match="e.csv row 3: column 'u' is empty"):
        build_interactions(events, source="e.csv", user_col="u", item_col="i", time_col="t")


def test_leave_one_out_and_temporal_splits():
    seqs = [np.array([0, 1, 2, 3]), np.array([4]), np.array([5, 6])]
    times = [np.arange(4.0), np.array([0.0]), np.array([1.0, 2.0])]
    weights = [s + 0.5 for s in seqs]  # each event's weight names its item
    split = leave_one_out(seqs, times, weights)
    assert split.train[0].tolist() == [0, 1] and split.train[1].tolist() == [4]
    assert split.valid.targets.tolist() == [2] and split.test.targets.tolist() == [3, 6]
    assert split.test.histories[0].tolist() == [0, 1, 2]
    assert split.counts["training_only_users"] == 1
    temporal = temporal_split(seqs, times, 0.25, weights)
    # cut times: the 50% and 75% quantiles of all event times, 1.0 and 2.0
    assert temporal.valid.targets.tolist() == [1] and temporal.test.targets.tolist() == [2, 6]
    assert [h.tolist() for h in temporal.test.histories] == [[0, 1], [5]]
    assert [t.tolist() for t in temporal.train] == [[0], [4], []]
    cold = withhold_items(split, 7, 0.3, seed=0)
    assert cold.cold_items.sum() == 2
    assert all(not cold.cold_items[s].any() for s in cold.train)
    assert all(cold.cold_items[t] for t in cold.test.targets)
    for part in (split, temporal, cold):  # the weights follow the training events
        assert [w.tolist() for w in part.train_weights] == [(s + 0.5).tolist() for s in part.train]
    assert leave_one_out(seqs, times).train_weights is None


def test_rules_block_items_and_bad_rules_fail_clearly():
    table = pd.DataFrame(
        {"in_stock": [True, False, True], "price": [5, 50, 20], "dept": ["toys", "a", "b"]}
    )
    assert blocked_items(table, ["in_stock == false"], "p.csv").tolist() == [False, True, False]
    assert blocked_items(table, ["price >= 20"], "p.csv").tolist() == [False, True, True]
    assert blocked_items(table, ["dept in [toys, b]"], "p.csv").tolist() == [True, False, True]
    with pytest.raises(SpecError, match="must look like"):
        parse_rule("in stock")
    with pytest.raises(DataError, match="unknown column 'colour'"):
        blocked_items(table, ["colour == red"], "p.csv")


# ------------------------------------------------------------------- models
def test_early_stopping_ranks_validation_cases_with_the_runs_exclude_seen(shop_data):
    seqs, times = shop_data.sequences()
    data = TrainingSequences(seqs, shop_data.n_items, times)
    # every target is the item just seen: excluded, it can never be hit
    again = [s for s in seqs if len(s) > 1]
    histories, targets = again, np.array([s[-1] for s in again])
    for exclude_seen, hit in ((True, False), (False, True)):
        model = make_model("als", factors=8, max_epochs=2, patience=2)
        model.fit(data, Validation(histories, targets, exclude_seen))
        assert (max(model.history_) > 0) is hit


def test_sasrec_scores_cold_items_from_their_text(shop_data):
    seqs, times = shop_data.sequences()
    split = withhold_items(leave_one_out(seqs, times), shop_data.n_items, 0.2, seed=1)
    cold = split.cold_items
    base = np.random.default_rng(0).normal(size=(shop_data.n_items, 12)).astype(np.float32)
    model = make_model("sasrec", **TINY["sasrec"]).fit(
        TrainingSequences(split.train, shop_data.n_items, None, None, base)
    )
    assert bool(model.network_.id_off[1:-1][torch.from_numpy(cold)].all())
    changed = base.copy()
    changed[cold] = -changed[cold]
    other = make_model("sasrec", **TINY["sasrec"]).fit(
        TrainingSequences(split.train, shop_data.n_items, None, None, changed)
    )
    history = [split.test.histories[0]]
    # cold items' scores come from their text: changing only that text changes them
    assert not np.allclose(model.score(history)[0, cold], other.score(history)[0, cold])
    # never seen in training, they are not the softmax's negatives either: their text does
    # not move a single weight (as negatives they would learn to rank every new item last)
    trained, twin = model.network_.state_dict(), other.network_.state_dict()
    assert all(torch.equal(trained[k], twin[k]) for k in trained if k != "text")


def test_sasrec_item_table_is_cached_per_set_of_weights(shop_data):
    seqs, times = shop_data.sequences()
    split = leave_one_out(seqs, times)
    vectors = np.random.default_rng(0).normal(size=(shop_data.n_items, 12)).astype(np.float32)
    train = TrainingSequences(split.train, shop_data.n_items, split.train_times, None, vectors)
    valid = Validation(split.valid.histories, split.valid.targets)
    model = make_model("sasrec", **TINY["sasrec"]).fit(train, valid)
    history = split.test.histories[:3]

    def uncached():
        with torch.inference_mode():
            table = model.network_.item_table(None)
            seq = torch.from_numpy(_left_pad(history, model.max_len))
            hidden = model.network_.encode(seq, table, causal=True)[:, -1]
            return (hidden @ table[1 : model.n_items_ + 1].T).numpy()

    first = model._network_scores(history)
    np.testing.assert_allclose(first, uncached(), rtol=1e-5, atol=1e-5)
    assert model._table is not None  # kept for the next call
    with torch.no_grad():  # what an epoch of fit does: the weights move
        model.network_.item.weight.mul_(2.0)
    model._validate(valid)  # fit validates after each epoch: the cache follows the weights
    np.testing.assert_allclose(model._network_scores(history), uncached(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(model._network_scores(history), first)
    model.fit(train, valid)  # and a finished fit starts from a fresh table
    np.testing.assert_allclose(model._network_scores(history), uncached(), rtol=1e-5, atol=1e-5)
    model.compile()  # serving: the same scores from the ONNX graph
    np.testing.assert_allclose(model._network_scores(history), uncached(), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        model.network_.item.weight.mul_(2.0)
    model.fit(train, valid)  # refitting drops the compiled graph: scores follow the weights
    np.testing.assert_allclose(model._network_scores(history), uncached(), rtol=1e-5, atol=1e-5)


def test_history_mask_hides_each_positions_earlier_items_but_never_its_target():
    from tailorkit.models.sasrec_network import history_mask as _history_mask

    inputs = torch.tensor([[0, 0, 3, 5, 2], [4, 1, 3, 1, 6]])  # left padding is 0
    following = torch.tensor([[0, 3, 5, 2, 7], [1, 3, 1, 6, 2]])
    used = inputs > 0
    targets = following[used]
    mask = _history_mask(inputs, used, targets, 8)
    hidden = [sorted(int(i) + 1 for i in row.nonzero()) for row in mask]  # as item ids
    assert hidden == [[3], [3, 5], [2, 3, 5], [4], [1, 4], [3, 4], [1, 3, 4], [1, 3, 4, 6]]
    # the sixth position's target (item 1) was bought before: it stays rankable


def test_sasrec_trains_with_seen_items_out_of_its_softmax(shop_data):
    seqs, times = shop_data.sequences()
    split = leave_one_out(seqs, times)
    model = make_model("sasrec", **{**TINY["sasrec"], "mask_seen": True})
    model.fit(
        TrainingSequences(split.train, shop_data.n_items, split.train_times),
        Validation(split.valid.histories, split.valid.targets),
    )
    losses = [e["loss"] for e in model.log_ if e["stage"] == "finetune"]
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert model.best_valid_ndcg_ > 0
    plain = make_model("sasrec", **{**TINY["sasrec"], "pretrain_epochs": 0, "max_epochs": 1})
    fewer = make_model("sasrec", **{**plain.get_params(), "mask_seen": True})
    first = [
        m.fit(TrainingSequences(split.train, shop_data.n_items, split.train_times)).log_[0]["loss"]
        for m in (plain, fewer)
    ]
    assert first[1] < first[0]  # same start, fewer competitors in every softmax


def test_sasrec_average_is_the_mean_of_the_last_epochs_weights(shop_data):
    seqs, times = shop_data.sequences()
    split = leave_one_out(seqs, times)
    data = TrainingSequences(split.train, shop_data.n_items)
    base = {**TINY["sasrec"], "n_seeds": 1, "pretrain_epochs": 0, "n_threads": 1}

    def weights(**params):
        model = make_model("sasrec", **{**base, **params}).fit(data)
        return dict(model.network_.named_parameters())

    # without validation cases: the mean of the last 2a + 1 epochs' weights
    alone = [weights(max_epochs=e) for e in (2, 3, 4)]
    averaged = weights(max_epochs=4, average=1)
    for name, value in averaged.items():
        expected = sum(w[name] for w in alone) / 3
        assert torch.allclose(value, expected, atol=1e-6), name
    assert not torch.allclose(averaged["item.weight"], alone[-1]["item.weight"])
    # with them: epochs around the best one, and the score reported is the average's own
    valid = Validation(split.valid.histories, split.valid.targets)
    model = make_model("sasrec", **{**base, "max_epochs": 4, "average": 1}).fit(data, valid)
    assert model.best_valid_ndcg_ == pytest.approx(model._validate(valid))
    for bad in (-1, 1.5):
        with pytest.raises(SpecError, match="sasrec average"):
            make_model("sasrec", **{**base, "average": bad}).fit(data)


def test_sasrec_scores_do_not_depend_on_padding_or_batch(shop_data, tmp_path):
    """Positions count from a history's first item and padding is masked out, so a user's
    scores are the same alone, beside a longer history, or through the compiled graph; in
    training mode dropout (attention weights included) makes two passes differ. A model saved
    with the earlier (pre-norm) layout has the same weight names: it is refused, not misread."""
    seqs, times = shop_data.sequences()
    split = leave_one_out(seqs, times)
    model = make_model("sasrec", **{**TINY["sasrec"], "use_text": False}).fit(
        TrainingSequences(split.train, shop_data.n_items, split.train_times)
    )
    short = np.asarray(split.test.histories[0][-3:])
    longer = max(split.test.histories, key=len)
    alone = model.score([short])[0]
    np.testing.assert_allclose(model.score([longer, short])[1], alone, rtol=1e-5, atol=1e-5)
    model.compile()
    np.testing.assert_allclose(model.score([longer, short])[1], alone, rtol=1e-4, atol=1e-5)
    net = model.network_.train()
    seq = torch.from_numpy(_left_pad([longer], model.max_len))
    table = net.item_table(None)
    with torch.no_grad():
        assert not torch.allclose(net.encode(seq, table, True), net.encode(seq, table, True))
    net.eval()
    folder = model.save(tmp_path / "old")
    document = json.loads((folder / "model.json").read_text())
    del document["state"]["layout"]  # what the earlier version wrote
    (folder / "model.json").write_text(json.dumps(document))
    with pytest.raises(RegistryError, match=r"model\.json: .*earlier tailorkit.*Retrain"):
        load_model(folder)


def test_sasrec_seed_bag_averages_its_members_and_saves_compiles_and_loads(shop_data, tmp_path):
    """Each member is the single model of its seed (trained in a worker process); the bag's
    scores are the mean of the members' log-softmax scores, equal after save/load and through
    the compiled graphs."""
    from scipy.special import log_softmax

    seqs, times = shop_data.sequences()
    split = leave_one_out(seqs, times)
    vectors = np.random.default_rng(0).normal(size=(shop_data.n_items, 12)).astype(np.float32)
    train = TrainingSequences(split.train, shop_data.n_items, None, None, vectors)
    valid = Validation(split.valid.histories, split.valid.targets)
    bag = make_model("sasrec", **{**TINY["sasrec"], "n_seeds": 2}).fit(train, valid)
    history = split.test.histories[:5]
    members = [m.score(history) for m in bag.members_]
    assert len(members) == 2 and not np.allclose(members[0], members[1])
    expected = np.mean([log_softmax(s, axis=1) for s in members], axis=0)
    np.testing.assert_allclose(bag._network_scores(history), expected, rtol=1e-5, atol=1e-6)
    single = make_model("sasrec", **{**TINY["sasrec"], "random_state": 1}).fit(train, valid)
    np.testing.assert_allclose(members[1], single._network_scores(history), rtol=1e-4, atol=1e-5)
    assert {e["member"] for e in bag.log_} == {0, 1} and bag.best_epoch_ >= 1
    ranks, _ = evaluate_scorer(bag.score, valid.histories, valid.targets, shop_data.n_items)
    assert bag.best_valid_ndcg_ == pytest.approx(ranking_metrics(ranks, (10,))["ndcg@10"])
    scores = bag.score(history)  # the network's and, when validation chose it, the prior's
    loaded = load_model(bag.save(tmp_path / "bag"))
    np.testing.assert_allclose(loaded.score(history), scores, rtol=1e-5, atol=1e-5)
    loaded.compile()
    np.testing.assert_allclose(loaded.score(history), scores, rtol=1e-4, atol=1e-4)
    with pytest.raises(SpecError, match="n_seeds must be a whole number >= 1, not 0"):
        make_model("sasrec", **{**TINY["sasrec"], "n_seeds": 0}).fit(train, valid)


def test_item_knn_recent_scores_from_the_last_items_only(shop_data):
    seqs, _ = shop_data.sequences()
    train = TrainingSequences(seqs, shop_data.n_items)
    full = make_model("item_knn").fit(train)
    recent = make_model("item_knn", recent=3).fit(train)
    history = next(s for s in seqs if len(s) > 6)
    np.testing.assert_array_equal(recent.score([history]), full.score([history[-3:]]))
    assert not np.array_equal(recent.score([history]), full.score([history]))


def test_sasrec_cooccurrence_prior_is_chosen_on_validation_saved_and_given_to_a_refit(
    shop_data, tmp_path
):
    """score = the network's scores + w * log(1 + 100 * ItemKNN(last L) / L); w is chosen
    from PRIOR_WEIGHTS on the validation cases (the smallest within one paired standard
    error of the best), or given; no validation and no weight: none."""
    from tailorkit.models.sasrec_prior import PRIOR_WEIGHTS, one_standard_error

    seqs, times = shop_data.sequences()
    split = leave_one_out(seqs, times)
    train = TrainingSequences(split.train, shop_data.n_items, split.train_times)
    valid = Validation(split.valid.histories, split.valid.targets)
    model = make_model("sasrec", **TINY["sasrec"], cooccurrence=4).fit(train, valid)
    chosen = model.prior_validation_
    assert set(chosen) == set(PRIOR_WEIGHTS) and len(set(chosen.values())) > 1  # it matters
    assert chosen[model.prior_weight_] == model.best_valid_ndcg_
    cases = {}  # the rule re-applied to the per-case scores gives the same weight
    for w in PRIOR_WEIGHTS:
        model.prior_weight_ = w
        cases[w] = valid.case_ndcg(model.score, shop_data.n_items)
        assert cases[w].mean() == pytest.approx(chosen[w])
    model.prior_weight_ = one_standard_error(cases)
    assert model.best_valid_ndcg_ == pytest.approx(chosen[model.prior_weight_])
    assert chosen[0.0] == pytest.approx(valid.ndcg(model._network_scores, shop_data.n_items))

    given = make_model("sasrec", **TINY["sasrec"], cooccurrence=4, cooccurrence_weight=2.0)
    given.fit(train)  # a refit: no validation cases, the evaluated fit's weight
    assert given.prior_weight_ == 2.0
    history = split.test.histories[:6]
    knn = make_model("item_knn", recent=4).fit(train).score(history)
    recent = np.array([min(len(h), 4) for h in history])[:, None]
    expected = given._network_scores(history) + 2.0 * np.log1p(100 * knn / recent)
    np.testing.assert_allclose(given.score(history), expected, rtol=1e-5, atol=1e-5)
    loaded = load_model(given.save(tmp_path / "prior"))
    np.testing.assert_allclose(loaded.score(history), expected, rtol=1e-5, atol=1e-5)
    loaded.compile()
    np.testing.assert_allclose(loaded.score(history), expected, rtol=1e-4, atol=1e-4)

    unguided = make_model("sasrec", **TINY["sasrec"], cooccurrence=4).fit(train)
    off = make_model("sasrec", **TINY["sasrec"], cooccurrence=0).fit(train, valid)
    for plain in (unguided, off):
        assert plain.prior_ is None
        np.testing.assert_array_equal(plain.score(history), plain._network_scores(history))
    for bad in ({"cooccurrence": -1}, {"cooccurrence": 2.5}, {"cooccurrence_weight": -1.0}):
        with pytest.raises(SpecError, match="sasrec cooccurrence"):
            make_model("sasrec", **TINY["sasrec"], **bad).fit(train)


def test_prior_weight_is_the_smallest_within_one_paired_standard_error_of_the_best():
    """A larger weight must beat a smaller one by more than the validation noise."""
    from tailorkit.models.sasrec_prior import one_standard_error

    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 400)
    noise = rng.normal(0, 0.3, (2, 400))
    noise -= noise.mean(axis=1, keepdims=True)  # exact mean gaps; paired SE about 0.3 / 20
    small = {0.0: base, 1.0: base + 0.01 + noise[0], 2.0: base + 0.012 + noise[1]}
    assert one_standard_error(small) == 0.0  # 0.012 is within one SE of 0
    large = {0.0: base, 1.0: base + 0.1 + noise[0], 2.0: base + 0.104 + noise[1]}
    assert one_standard_error(large) == 1.0  # 0 is 0.104 below: out; 1.0 is within one SE
    exact = {0.0: base, 1.0: base + 0.001}  # the same gap on every case: no noise, no excuse
    assert one_standard_error(exact) == 1.0
    assert one_standard_error({0.0: base, 1.0: base - 0.05}) == 0.0  # the best is the smallest
    assert one_standard_error({0.5: base[:1], 1.0: base[:1] + 0.1}) == 1.0  # one case: no SE
    assert one_standard_error({0.0: base, 1.0: base.copy()}) == 0.0  # ties: the smaller


def test_items_never_trained_take_the_prior_of_their_text_neighbours(shop_data, tmp_path):
    """Without co-occurrences an item unseen in training would get no prior and sink below
    every trained item; it takes the mean prior of its 10 nearest trained items by text."""
    seqs, times = shop_data.sequences()
    split = leave_one_out(seqs, times)
    cold = 7
    sequences = [s[s != cold] for s in split.train]  # item 7: never seen in training
    vectors = np.random.default_rng(0).normal(size=(shop_data.n_items, 12)).astype(np.float32)
    train = TrainingSequences(sequences, shop_data.n_items, None, None, vectors)
    params = {**TINY["sasrec"], "cooccurrence": 4, "cooccurrence_weight": 2.0}
    model = make_model("sasrec", **params).fit(train)
    history = [h[h != cold] for h in split.test.histories[:6]]
    knn = make_model("item_knn", recent=4).fit(train).score(history)
    prior = np.log1p(100 * knn / np.array([min(len(h), 4) for h in history])[:, None])
    warm = np.flatnonzero(np.bincount(np.concatenate(sequences), minlength=len(vectors)) > 0)
    assert cold not in warm
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    neighbours = warm[np.argsort(-(unit[warm] @ unit[cold]))[:10]]
    added = model.score(history) - model._network_scores(history)
    np.testing.assert_allclose(added[:, cold], 2.0 * prior[:, neighbours].mean(1), rtol=1e-4)
    np.testing.assert_allclose(added[:, warm], 2.0 * prior[:, warm], rtol=1e-4, atol=1e-5)
    assert knn[:, cold].max() == 0 and added[:, cold].max() > 0  # it would have had none
    loaded = load_model(model.save(tmp_path / "cold"))
    np.testing.assert_allclose(loaded.score(history), model.score(history), rtol=1e-5, atol=1e-5)


def test_the_report_draws_one_validation_curve_per_network_of_a_bag():
    runs = {0: 3, 1: 2}  # member -> fine-tuning epochs, logged one member after the other
    log = [{"stage": "pretrain", "epoch": 1, "loss": 8.0, "member": 0}] + [
        {"stage": "finetune", "epoch": e, "valid_ndcg@10": 0.1 * e, "member": m}
        for m, n in runs.items()
        for e in range(1, n + 1)
    ]
    curves = validation_curves(log)
    assert [[e["epoch"] for e in c] for c in curves] == [[1, 2, 3], [1, 2]]
    assert validation_curves([{"epoch": 1, "valid_ndcg@10": 0.2}]) == [
        [{"epoch": 1, "valid_ndcg@10": 0.2}]
    ]


def test_a_seed_bags_time_budget_bounds_the_whole_bag():
    """Three members on two workers run in two rounds: each gets half the budget."""
    assert member_budget(60.0, 3, 2) == 30.0
    assert member_budget(60.0, 3, 1) == 20.0 and member_budget(60.0, 2, 4) == 60.0
    assert member_budget(None, 3, 2) is None
