"""Paired comparisons of two models on the same cases: DeLong against sklearn and against a
bootstrap of AUC differences, the paired bootstrap against the paired t, NDCG against
sklearn, and the shadow analysis's decisions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import ndcg_score, roc_auc_score

from tailorkit.evaluate.experiment_stats import ExperimentDataError
from tailorkit.evaluate.paired import compare_auc, compare_per_case, delong, log_losses
from tailorkit.evaluate.ranking import list_hit, list_ndcg
from tailorkit.loop.decision import Rule
from tailorkit.loop.shadow_analysis import ProbabilityPairs, RankingPairs, analyze_shadow


def scored_cases(n: int, seed: int, strengths=(1.0, 0.6)) -> tuple[np.ndarray, ...]:
    """Labels and two correlated models' scores (a shared signal, each with its own noise;
    a larger strength separates the classes better)."""
    rng = np.random.default_rng(seed)
    y = rng.binomial(1, 0.3, n)
    shared = rng.normal(size=n)
    scores = [s * y + 0.7 * shared + rng.normal(size=n) for s in strengths]
    return y, *(1 / (1 + np.exp(-x)) for x in scores)


def mann_whitney_auc(y: np.ndarray, score: np.ndarray) -> float:
    """The AUC as scipy's Mann-Whitney U over (positives × negatives)."""
    positives, negatives = score[y == 1], score[y == 0]
    return stats.mannwhitneyu(positives, negatives).statistic / (len(positives) * len(negatives))


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The AUC of each row from the rank-sum of its positives (Mann-Whitney U / (m n))."""
    m = labels.sum(axis=1)
    n = labels.shape[1] - m
    positives_rank_sum = (stats.rankdata(scores, axis=1) * labels).sum(axis=1)
    return (positives_rank_sum - m * (m + 1) / 2) / (m * n)


def test_delong_aucs_are_sklearn_roc_auc_even_with_ties():
    y, a, b = scored_cases(500, seed=1)
    tied = np.round(a, 1)  # many ties: midranks count a tie as half
    aucs, _ = delong(y, np.vstack([tied, b]))
    assert aucs == pytest.approx([roc_auc_score(y, tied), roc_auc_score(y, b)], abs=1e-12)
    assert aucs[0] == pytest.approx(mann_whitney_auc(y, tied), abs=1e-12)


def test_delong_variance_of_the_difference_matches_a_bootstrap():
    y, a, b = scored_cases(1500, seed=2)
    _, cov = delong(y, np.vstack([a, b]))
    delong_var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    idx = np.random.default_rng(3).integers(0, len(y), (800, len(y)))  # cases, pairs kept
    labels = y[idx]
    draws = rank_auc(labels, b[idx]) - rank_auc(labels, a[idx])
    assert delong_var == pytest.approx(np.var(draws, ddof=1), rel=0.15)
    assert cov[0, 1] > 0  # correlated models: pairing narrows the interval


def test_fixed_delong_interval_and_p_value_from_its_z():
    y, a, b = scored_cases(800, seed=4)
    e = compare_auc(y, a, b, method="fixed")
    assert e.method == "delong"
    assert e.control_mean == pytest.approx(roc_auc_score(y, a))
    assert e.treatment_mean == pytest.approx(roc_auc_score(y, b))
    assert e.diff < 0 and e.diff_ci_high < 0  # the weaker challenger is worse beyond noise
    se = (e.diff_ci_high - e.diff_ci_low) / (2 * stats.norm.ppf(0.975))
    assert e.p_value == pytest.approx(2 * stats.norm.sf(abs(e.diff) / se), rel=1e-9)
    assert e.ci_low < e.lift < e.ci_high < 0


def test_delong_holds_its_level_between_equal_models():
    """400 shadow comparisons of two equally good models: about 5% reject at one look."""
    rejected = 0
    for seed in range(400):
        y, a, b = scored_cases(300, seed=100 + seed, strengths=(1.0, 1.0))
        rejected += compare_auc(y, a, b, method="fixed").p_value < 0.05
    assert 0.025 <= rejected / 400 <= 0.08


def test_sequential_interval_is_wider_and_its_p_value_larger():
    y, a, b = scored_cases(800, seed=5)
    fixed = compare_auc(y, a, b, method="fixed")
    sequential = compare_auc(y, a, b, method="sequential", planned_units=800)
    assert sequential.method == "delong-sequential"
    assert sequential.diff == fixed.diff
    assert sequential.diff_ci_low < fixed.diff_ci_low < fixed.diff_ci_high < sequential.diff_ci_high
    assert sequential.p_value > fixed.p_value


def test_paired_bootstrap_agrees_with_the_paired_t_and_is_seeded():
    rng = np.random.default_rng(6)
    c = rng.exponential(0.5, 3000)
    t = c + rng.normal(0.02, 0.2, 3000)  # paired: the same cases, slightly worse
    e = compare_per_case("log_loss", c, t, method="fixed")
    paired_t = stats.ttest_rel(t, c)
    low, high = paired_t.confidence_interval(0.95)
    assert e.method == "paired-bootstrap" and e.diff == pytest.approx(np.mean(t - c))
    assert (e.diff_ci_low, e.diff_ci_high) == pytest.approx((low, high), abs=0.003)
    assert e.p_value == pytest.approx(paired_t.pvalue, abs=0.01)
    again = compare_per_case("log_loss", c, t, method="fixed")
    assert (again.diff_ci_low, again.p_value) == (e.diff_ci_low, e.p_value)  # fixed seed


def test_per_row_log_losses_average_to_sklearn_log_loss():
    from sklearn.metrics import log_loss

    y, a, _ = scored_cases(400, seed=7)
    assert log_losses(y, a).mean() == pytest.approx(log_loss(y, a), rel=1e-12)


def test_list_ndcg_and_hit_match_sklearn_for_one_shown_list():
    shown, relevant = ["a", "b", "c", "d"], {"c", "x"}
    catalogue = ["a", "b", "c", "d", "x"]
    truth = np.array([[float(i in relevant) for i in catalogue]])
    scores = np.array([[4, 3, 2, 1, 0.5]])  # the shown order, "x" below the cut
    assert list_ndcg(shown, relevant) == pytest.approx(ndcg_score(truth, scores, k=4))
    assert list_hit(shown, relevant) == 1.0 and list_hit(shown, {"x"}) == 0.0
    assert list_ndcg(shown, set()) == 0.0


def test_bad_cases_are_clear_errors():
    with pytest.raises(ExperimentDataError, match="2 positive and 2 negative"):
        compare_auc(np.array([0, 0, 0, 1]), np.arange(4.0), np.arange(4.0))
    with pytest.raises(ExperimentDataError, match="0 or 1"):
        delong(np.array([0, 2, 1, 0]), np.arange(4.0))
    with pytest.raises(ExperimentDataError, match="method"):
        compare_per_case("x", np.ones(3), np.ones(3), method="peeking")


def test_shadow_analysis_keeps_a_worse_challenger_and_ships_a_better_one():
    y, good, bad = scored_cases(1500, seed=8, strengths=(1.6, 0.3))
    rule = Rule(min_units=500)
    worse = analyze_shadow(
        arms=["champion", "challenger"], pairs=ProbabilityPairs(y, good, bad), rule=rule
    )
    better = analyze_shadow(
        arms=["champion", "challenger"], pairs=ProbabilityPairs(y, bad, good), rule=rule
    )
    assert worse["decision"] == "keep" and better["decision"] == "ship", better["reason"]
    assert worse["srm_p_value"] is None and worse["units"] == {"champion": 1500, "challenger": 1500}
    auc, loss = better["metrics"]
    assert (auc["name"], auc["role"], auc["method"]) == ("auc", "primary", "delong-sequential")
    assert (loss["name"], loss["role"]) == ("log_loss", "guardrail")
    assert loss["higher_is_better"] is False
    assert auc["arm_values"]["challenger"] == pytest.approx(roc_auc_score(y, good))
    waiting = analyze_shadow(
        arms=["champion", "challenger"], pairs=ProbabilityPairs(y, bad, good), rule=Rule(5000)
    )
    assert waiting["decision"] == "continue" and "5000 needed" in waiting["reason"]


def test_shadow_analysis_of_rankings_and_of_too_few_cases():
    rng = np.random.default_rng(9)
    pairs = RankingPairs()
    for _ in range(400):  # the challenger ranks the relevant item higher, more often
        target = str(rng.integers(10))
        rest = [str(i) for i in rng.permutation(10) if str(i) != target]
        pairs.champion.append(rest[:3] + [target] + rest[3:4])
        pairs.challenger.append([target] + rest[:4] if rng.random() < 0.8 else rest[:5])
        pairs.relevant.append({target})
    result = analyze_shadow(arms=["live", "shadow"], pairs=pairs, rule=Rule(min_units=100))
    ndcg, hits = result["metrics"]
    assert ndcg["name"] == "ndcg@5" and hits["name"] == "hit_rate@5"
    assert ndcg["arm_values"]["live"] == pytest.approx(1 / np.log2(5))
    assert result["decision"] == "keep" and "guardrail hit_rate@5" in result["reason"]
    none = analyze_shadow(arms=["live", "shadow"], pairs=RankingPairs())
    assert none["decision"] == "invalid" and "0 labelled cases" in none["reason"]
    one_class = ProbabilityPairs(np.zeros(50), np.linspace(0, 1, 50), np.linspace(0, 1, 50))
    flat = analyze_shadow(arms=["a", "b"], pairs=one_class)
    assert flat["decision"] == "invalid" and "2 positive and 2 negative" in flat["reason"]
