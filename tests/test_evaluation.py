"""Fraud-review evaluation: known answers of every metric on hand-built inputs, and the harness
(bench/bench_fraud.py) end to end on a tiny network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench import bench_fraud
from graph.metrics.evaluation import (
    FIGURES,
    GENERATED_GOALS,
    OTC_GOALS,
    Goal,
    QueueSize,
    at_risk_share,
    auc,
    bottom_share,
    flagged_members,
    flagged_share,
    fraud_figures,
    newcomer_bottom_ratio,
    newcomers,
    queue_size,
    ring_member_precision_recall,
    worst_group_jaccard,
)


def test_auc_known_answer() -> None:
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 0.35 beats 0.1 only, 0.8 beats
    # both: 3 of 4 pairs.
    assert auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    # A tie counts half: 0.5 vs 0.5 is half a pair, 0.5 vs 0.2 a whole one: 1.5 of 2.
    assert auc([0.5, 0.5, 0.2], [True, False, False]) == 0.75


@pytest.mark.parametrize(
    ("score", "positive"), [([0.1, 0.2], [True, True]), ([0.1, 0.2], [True]), ([], [])]
)
def test_auc_refuses_one_class_or_mismatched_lengths(
    score: list[float], positive: list[bool]
) -> None:
    with pytest.raises(ValueError, match=r"auc needs|scores for"):
        auc(score, positive)


def test_flagged_members_counts_a_member_in_two_rings_once() -> None:
    assert flagged_members([("a", "b"), ("b", "c"), ()]) == {"a", "b", "c"}
    assert flagged_members([]) == set()


def test_precision_recall_with_complete_truth() -> None:
    # Flagged {a, b, c, x}: a, b, c are fraud (3 of 4), and 3 of the 4 fraud (a, b, c, d).
    result = ring_member_precision_recall([("a", "b"), ("b", "c", "x")], {"a", "b", "c", "d"})
    assert (result.precision, result.recall) == (0.75, 0.75)
    assert (result.flagged, result.judged, result.found) == (4, 4, 3)


def test_precision_recall_with_partial_labels_judges_labelled_members_only() -> None:
    # Flagged {a, u, x, y}: u carries no label; of a, x, y only a is fraud: 1/3. The labelled
    # fraud are a and b: 1/2 found.
    result = ring_member_precision_recall([("a", "u"), ("x", "y")], {"a", "b"}, benign={"x", "y"})
    assert result.precision == pytest.approx(1 / 3)
    assert result.recall == 0.5
    assert (result.flagged, result.judged, result.found) == (4, 3, 1)


def test_precision_recall_without_flagged_rings_or_fraud() -> None:
    nothing_flagged = ring_member_precision_recall([], {"a"})
    assert (nothing_flagged.precision, nothing_flagged.recall) == (None, 0.0)
    no_fraud = ring_member_precision_recall([("a", "b")], set())
    assert (no_fraud.precision, no_fraud.recall) == (0.0, None)
    # Flagged members none of whom carry a label: nothing to judge precision on.
    unlabelled = ring_member_precision_recall([("u", "v")], {"a"}, benign={"b"})
    assert (unlabelled.precision, unlabelled.judged) == (None, 0)


def test_worst_group_jaccard() -> None:
    rings = [("a", "b"), ("c", "d", "e", "f")]
    # {a, b, c}: ring {a, b} shares 2 of 3 (2/3), ring {c, d, e, f} 1 of 6; best 2/3.
    # {e, f}: 2 of 4 with the second ring (1/2): the worst-found group.
    assert worst_group_jaccard(rings, [("a", "b", "c"), ("e", "f")]) == 0.5
    assert worst_group_jaccard(rings, [("a", "b")]) == 1.0
    # A group no flagged ring touches, or nothing flagged at all: 0.
    assert worst_group_jaccard(rings, [("a", "b"), ("x", "y")]) == 0.0
    assert worst_group_jaccard([], [("a", "b")]) == 0.0
    assert worst_group_jaccard(rings, []) is None


def test_queue_size_and_flagged_share() -> None:
    # Two rings sharing b: 3 distinct members of 12 = 25%.
    assert queue_size([("a", "b"), ("b", "c")], 12) == QueueSize(2, 3, 0.25)
    assert flagged_share([("a", "b"), ("b", "c")], 12) == 0.25
    assert queue_size([], 12) == QueueSize(0, 0, 0.0)
    assert flagged_share([], 0) is None


def test_at_risk_share_counts_the_threshold_in() -> None:
    risk = pd.Series([0.9, 0.5, 0.49, 0.0], index=["a", "b", "c", "d"])
    # 0.9 and exactly 0.5 are at risk, 0.49 is not: 2 of 4.
    assert at_risk_share(risk) == 0.5
    assert at_risk_share(risk, {"b", "c"}) == 0.5
    assert at_risk_share(risk, ["c"]) == 0.0
    assert at_risk_share(risk, {"a"}, threshold=0.95) == 0.0
    assert at_risk_share(risk, set()) is None
    with pytest.raises(KeyError):
        at_risk_share(risk, {"nobody"})


def test_newcomers_are_the_last_90_days() -> None:
    now = pd.Timestamp("2026-06-30")
    joined = pd.Series(
        pd.to_datetime(
            [
                "2026-04-01 00:00:00",
                "2026-04-01 00:00:01",
                "2026-06-30 00:00:00",
                "2025-01-01 00:00:00",
            ]
        ),
        index=["a", "b", "c", "d"],
    )
    # 2026-04-01 is 90 days before 2026-06-30: exactly 90 days old is no longer new.
    assert newcomers(joined, now).tolist() == [False, True, True, False]
    assert newcomers(joined, now, days=365).tolist() == [True, True, True, False]


def test_bottom_share_without_ties() -> None:
    # Five scores, the lowest 40% = the 2 lowest (1 and 2); the group holds 1 and 3: 1 of 2.
    assert bottom_share([5, 1, 4, 2, 3], [False, True, False, False, True], bottom=0.4) == 0.5


def test_bottom_share_splits_ties_evenly() -> None:
    # Four scores all tied, two places: each member is in with chance 1/2, so the one group
    # member fills half a place of 2 = 0.25 — the group's share of members, whatever the ids.
    assert bottom_share([1, 1, 1, 1], [True, False, False, False], bottom=0.5) == 0.25
    # 0.1 is in for sure; 0.2 is tied three ways for the one place left (chance 1/3 each); the
    # group holds 0.1 and one of the 0.2s: (1 + 1/3) / 2 = 2/3.
    share = bottom_share([0.1, 0.2, 0.2, 0.2, 0.9], [True, True, False, False, False], bottom=0.4)
    assert share == pytest.approx(2 / 3)


def test_bottom_share_rounds_places_up_but_not_float_noise() -> None:
    ranks = np.arange(100, dtype=float)
    sixth = np.arange(100) == 5
    # 5% of 100 is 5 places (0.05 * 100 is 5.000000000000001 in floats): the 6th is out.
    assert bottom_share(ranks, sixth, bottom=0.05) == 0.0
    # 5% of 101 is 5.05: 6 places, the 6th is in: 1 of 6.
    assert bottom_share(np.arange(101.0), np.arange(101) == 5) == pytest.approx(1 / 6)
    # The whole population: the group's share of members.
    assert bottom_share(ranks, sixth, bottom=1.0) == 0.01


@pytest.mark.parametrize(
    ("score", "group", "bottom"),
    [([1.0, 2.0], [True], 0.05), ([], [], 0.05), ([1.0], [True], 0.0), ([1.0], [True], 1.5)],
)
def test_bottom_share_refuses_bad_input(
    score: list[float], group: list[bool], bottom: float
) -> None:
    with pytest.raises(ValueError, match=r"group flags|needs scores|bottom must"):
        bottom_share(score, group, bottom=bottom)


def test_newcomer_bottom_ratio() -> None:
    trust = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    # One newcomer of ten (10%) holding the lowest score, the lowest 10% = 1 place: 100%,
    # ten times their share.
    assert newcomer_bottom_ratio(trust, [True] + [False] * 9, bottom=0.1) == pytest.approx(10.0)
    # At the top instead: none in the lowest place.
    assert newcomer_bottom_ratio(trust, [False] * 9 + [True], bottom=0.1) == 0.0
    # Everyone new: exactly their share.
    assert newcomer_bottom_ratio(trust, [True] * 10) == 1.0
    assert newcomer_bottom_ratio(trust, [False] * 10) is None


#: Ten members a..j; a, b, c are the planted fraud.
MEMBERS = list("abcdefghij")
TRUST = pd.Series([0.1, 0.2, 0.3, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.05], index=MEMBERS)
RISK = pd.Series([0.9, 0.8, 0.6, 0.7, 0.1, 0.5, 0.2, 0.0, 0.3, 0.4], index=MEMBERS)
#: j and i joined 29 and 60 days before the end (new and honest), a 10 days before (new, fraud).
JOINED = pd.Series(
    pd.to_datetime(["2026-06-20", *["2025-01-01"] * 7, "2026-05-01", "2026-06-01"]),
    index=MEMBERS,
)
NOW = pd.Timestamp("2026-06-30")
RINGS = [("a", "b"), ("c", "d")]


def _figures(rings: list[tuple[str, str]], **truth: Any) -> dict[str, float | int | None]:
    """The figures of the ten-member network with ``rings`` flagged, against ``truth``."""
    return fraud_figures(
        rings=rings, trust_score=TRUST, fraud_risk=RISK, joined_at=JOINED, now=NOW, **truth
    )


def test_fraud_figures_with_planted_truth() -> None:
    figures = _figures(
        RINGS,
        fraud={"a", "b", "c"},
        hard_negatives={"circle": {"d", "e"}, "cohort": {"f", "g"}},
        fraud_groups=[("a", "b"), ("c",)],
    )
    assert set(figures) == set(FIGURES)
    # Flagged {a, b, c, d}: 3 fraud of 4; all 3 fraud found.
    assert figures["ring_precision"] == 0.75
    assert figures["ring_recall"] == 1.0
    assert figures["ring_judged"] == 4
    # Pair {a, b} is a flagged ring (1); {c} is found inside ring {c, d} (1/2).
    assert figures["group_jaccard"] == 0.5
    # Circle d, e: d is in a flagged ring; d (0.7) at risk, e (0.1) not.
    assert figures["circle_flagged"] == 1
    assert figures["circle_at_risk"] == 0.5
    # Cohort f, g: neither flagged; f at exactly 0.5 is at risk, g (0.2) not.
    assert figures["cohort_flagged"] == 0
    assert figures["cohort_at_risk"] == 0.5
    # Honest d..j: d (0.7) and f (0.5) at risk: 2 of 7. All: a, b, c, d, f: 5 of 10.
    assert figures["benign_at_risk"] == pytest.approx(2 / 7)
    assert figures["members_at_risk"] == 0.5
    # Low trust: a, b, c (0.1-0.3) are below every honest member but j (0.05): 18 of 21 pairs.
    assert figures["trust_auc"] == pytest.approx(18 / 21)
    # Risk: a (0.9) and b (0.8) above all 7 honest, c (0.6) above all but d (0.7): 20 of 21.
    assert figures["risk_auc"] == pytest.approx(20 / 21)
    assert (figures["queue_rings"], figures["queue_members"], figures["queue_share"]) == (2, 4, 0.4)
    # Honest newcomers i, j (a is fraud): 20% of members. The lowest 5% of 10 is 1 place: j
    # (0.05), a newcomer: 100% / 20% = 5.
    assert figures["newcomers"] == 2
    assert figures["newcomer_ratio"] == pytest.approx(5.0)


def test_fraud_figures_with_partial_labels() -> None:
    figures = _figures(RINGS, fraud={"a", "b"}, benign={"d", "e", "h"})
    # Flagged {a, b, c, d}; c carries no label: judged a, b, d; 2 fraud of 3; a and b found.
    assert figures["ring_judged"] == 3
    assert figures["group_jaccard"] is None
    assert figures["ring_precision"] == pytest.approx(2 / 3)
    assert figures["ring_recall"] == 1.0
    # Labelled benign d (0.7), e (0.1), h (0.0): 1 of 3 at risk.
    assert figures["benign_at_risk"] == pytest.approx(1 / 3)
    # Over labelled members only: a, b have lower trust and higher risk than d, e and h.
    assert figures["trust_auc"] == 1.0
    assert figures["risk_auc"] == 1.0
    # No honest groups known here.
    assert figures["circle_flagged"] is figures["cohort_at_risk"] is None
    # Unlabelled newcomers count as honest: i and j again.
    assert figures["newcomer_ratio"] == pytest.approx(5.0)


def test_fraud_figures_without_flagged_rings_or_labels() -> None:
    figures = _figures([], fraud=set(), benign=set())
    assert figures["ring_precision"] is None
    assert figures["ring_recall"] is None
    assert figures["ring_judged"] == 0
    assert figures["trust_auc"] is None
    assert figures["risk_auc"] is None
    assert figures["benign_at_risk"] is None
    assert (figures["queue_rings"], figures["queue_members"], figures["queue_share"]) == (0, 0, 0.0)
    # With no known fraud every newcomer is honest: a, i and j.
    assert figures["newcomers"] == 3
    assert figures["members_at_risk"] == 0.5


def test_goal_verdicts() -> None:
    at_most = Goal("queue_share", "<=", 0.03, percent=True)
    assert at_most.describe() == "≤ 3%"
    assert at_most.verdict({"queue_share": 0.03}) == "pass"
    assert at_most.verdict({"queue_share": 0.031}) == "fail"
    assert at_most.verdict({"queue_share": None}) == "n/a"
    assert at_most.verdict({}) == "n/a"
    none = Goal("circle_flagged", "<=", 0)
    assert none.describe() == "= 0"
    assert none.verdict({"circle_flagged": 1}) == "fail"
    precision = Goal("ring_precision", ">=", 0.75, when=("ring_judged", 5))
    assert precision.verdict({"ring_precision": 0.75, "ring_judged": 5}) == "pass"
    assert precision.verdict({"ring_precision": 0.74, "ring_judged": 5}) == "fail"
    assert precision.verdict({"ring_precision": 0.0, "ring_judged": 4}) == "n/a"


def test_goals_name_figures_that_exist() -> None:
    for goal in (*OTC_GOALS, *GENERATED_GOALS):
        assert goal.figure in FIGURES
        assert goal.when is None or goal.when[0] in FIGURES


def test_harness_settings() -> None:
    assert bench_fraud.adaptations_of("none") == ()
    assert bench_fraud.adaptations_of("all") == bench_fraud.ADAPTATIONS
    assert bench_fraud.adaptations_of("slow+padded") == ("slow", "padded")
    assert set(bench_fraud.ADAPTATIONS) == {"slow", "aged", "recruited", "padded"}
    with pytest.raises(ValueError, match="unknown setting"):
        bench_fraud.adaptations_of("slow+fast")


def _tiny_otc(folder: Path) -> Path:
    """A SNAP edge list of 40 users and REV2-style labels: users 0-9 fraud, 10-29 benign."""
    rng = np.random.default_rng(7)
    source, target = rng.integers(0, 40, (2, 300))
    keep = source != target
    rating = np.where(target[keep] < 10, -5, rng.integers(1, 11, keep.sum()))
    times = 1_300_000_000 + np.cumsum(rng.integers(3600, 86_400, keep.sum()))
    edges = pd.DataFrame({"s": source[keep], "t": target[keep], "r": rating, "time": times})
    edges.to_csv(folder / "network.csv", header=False, index=False)
    labels = [f"{node},{'-1' if node < 10 else '+1'}" for node in range(30)]
    (folder / "ground_truth.csv").write_text("\n".join(labels) + "\n")
    return folder


def test_harness_prints_and_writes_every_figure_for_every_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.json"
    argv = ["--members", "400", "--seeds", "1", "--cohorts", "2", "--json", str(out)]
    bench_fraud.main([*argv, "--otc", str(_tiny_otc(tmp_path))])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    datasets = result["datasets"]
    assert list(datasets) == ["otc", *bench_fraud.SETTINGS]
    for name, data in datasets.items():
        goals = (*OTC_GOALS, bench_fraud.OTC_RINGS_SECONDS) if name == "otc" else GENERATED_GOALS
        assert len(data["runs"]) == 1
        assert set(bench_fraud.LABELS) <= set(data["runs"][0])
        assert set(data["range"]) == set(bench_fraud.LABELS)
        assert set(data["goals"]) == {goal.figure for goal in goals}
        for verdict in data["goals"].values():
            assert verdict["verdict"] in {"pass", "FAIL", "n/a"}
        assert data["title"] in printed
    # Every figure is printed on a line of its own once per network.
    lines = printed.splitlines()
    for label in bench_fraud.LABELS.values():
        assert sum(line.startswith(f"  {label}  ") for line in lines) == len(datasets), label
    assert result["members"] == 400
    assert result["command"].startswith("python -m bench.bench_fraud --members 400")
    assert "goals met:" in printed
