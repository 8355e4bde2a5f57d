"""Implausible claims through ``analyze``: claims.csv, the time resolution in summary.json,
claims_score in risk.csv only where the data lets a claim stand; and rings of the legacy kind
"implausible" kept in the review queue with their decisions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from graph.analyze import analyze
from graph.ingest import ingest
from graph.metrics.claims import CLAIM_COLUMNS
from graph.metrics.rings import RISK_COLUMNS
from graph.store import GraphStore, SqliteStore
from tests.conftest import NOW, WriteDataset
from tests.test_rings_store import LEGACY

MEMBERS = "member_id,joined_at\n" + "".join(
    f"{m},2024-01-01\n" for m in ("ann", "bo", "cai", "gus")
)


def _sessions(*, placeholder: bool) -> str:
    """Forty days of ordinary help at minute-resolution times, then gus claiming 10 + 12 + 8
    hours on one day; with ``placeholder`` every session lasts one hour instead, and gus logs
    thirty of them on that day, one every 20 minutes."""
    lines = ["session_id,helper_id,recipient_id,started_at,hours"]
    pairs = [("ann", "bo"), ("bo", "cai"), ("cai", "ann")]
    for d in range(40):
        at = pd.Timestamp("2025-03-01") + pd.Timedelta(days=d, hours=8 + d % 9, minutes=7 * d % 60)
        hours = 1.0 if placeholder else (0.75, 1.5, 2.25, 1.0)[d % 4]
        lines.append(f"s{d},{pairs[d % 3][0]},{pairs[d % 3][1]},{at:%Y-%m-%dT%H:%M},{hours}")
    day = pd.Timestamp("2025-04-20")
    claimed = (
        [(day + pd.Timedelta(minutes=20 * i), 1.0) for i in range(30)]
        if placeholder
        else [(day + pd.Timedelta(minutes=m), h) for m, h in ((10, 10.0), (620, 12.0), (950, 8.0))]
    )
    for i, (at, hours) in enumerate(claimed):
        lines.append(f"g{i},gus,{('ann', 'bo', 'cai')[i % 3]},{at:%Y-%m-%dT%H:%M},{hours}")
    return "\n".join(lines) + "\n"


def _run(
    write_dataset: WriteDataset, out: Path, *, placeholder: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Analyse the sessions into ``out``: the summary and its time resolution."""
    folder = write_dataset(
        members=MEMBERS,
        sessions=_sessions(placeholder=placeholder),
        referrals=None,
        redemptions=None,
    )
    with SqliteStore(":memory:") as store:
        assert ingest(folder, store, now=NOW).all_accepted
        summary = analyze(store, out).summary
    resolution = summary["time_resolution"]
    assert isinstance(resolution, dict)
    return summary, resolution


def test_analyze_writes_claims_and_folds_the_standing_ones_into_risk(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    summary, resolution = _run(write_dataset, tmp_path / "real", placeholder=False)
    assert resolution["timestamps"] == "minute"
    assert resolution["placeholder_durations"] is False
    assert resolution["day_claims_can_stand"] is True
    assert "claims.csv" in summary["files"]
    claims = pd.read_csv(tmp_path / "real" / "claims.csv", keep_default_na=False)
    assert list(claims.columns) == CLAIM_COLUMNS
    gus = claims.set_index("member_id").loc["gus"]
    assert (gus["days_over_24h"], gus["max_day_hours"]) == (1, 30.0)
    assert bool(gus["day_claim_stands"])
    assert gus["claims_score"] > 0
    risk = pd.read_csv(tmp_path / "real" / "risk.csv", keep_default_na=False)
    assert list(risk.columns) == RISK_COLUMNS
    risk = risk.set_index("member_id")
    assert risk.loc["gus", "claims_score"] == gus["claims_score"]
    expected = 1 - (1 - risk["ring_score"]) * (1 - risk["trust_doubt"]) * (1 - risk["claims_score"])
    assert risk["fraud_risk"].to_numpy() == pytest.approx(expected.to_numpy())
    assert set(risk.index[risk["claims_score"] > 0]) == {"gus"}


def test_on_placeholder_durations_claims_are_listed_but_add_no_risk(
    write_dataset: WriteDataset, tmp_path: Path
) -> None:
    # Every session lasts one hour: gus's thirty sessions in a day are thirty events, not
    # thirty hours, and their recorded overlaps say nothing.
    _, resolution = _run(write_dataset, tmp_path / "coarse", placeholder=True)
    assert resolution["placeholder_durations"] is True
    assert (resolution["modal_hours"], resolution["modal_hours_sessions"]) == (1.0, 70)
    assert resolution["day_claims_can_stand"] is resolution["overlaps_can_stand"] is False
    claims = pd.read_csv(tmp_path / "coarse" / "claims.csv", keep_default_na=False)
    assert list(claims["member_id"]) == ["gus"]
    gus = claims.iloc[0]
    assert (gus["days_over_24h"], gus["max_day_hours"], gus["overlaps"]) == (1, 30.0, 29)
    assert not gus["day_claim_stands"]
    assert not gus["overlap_claim_stands"]
    assert gus["claims_score"] == 0
    assert "cannot be judged" in gus["note"]
    risk = pd.read_csv(tmp_path / "coarse" / "risk.csv")
    assert (risk["claims_score"] == 0).all()


def test_legacy_implausible_rings_stay_in_the_queue_with_their_decisions(
    store: GraphStore, write_dataset: WriteDataset, tmp_path: Path
) -> None:
    """A store written before implausible claims stopped being rings keeps its "implausible"
    rings: analyze lists them (no longer detected, so unchanged), reviewers decide on them, and
    the decision sticks. An open one still holds its members' tiers until it is reviewed."""
    ingest(write_dataset(), store, now=NOW)
    store.save_rings([LEGACY])
    first = analyze(store, tmp_path / "first")
    queue = json.loads((tmp_path / "first" / "rings.json").read_text())["rings"]
    assert [(ring["ring_id"], ring["kind"], ring["status"]) for ring in queue] == [
        (LEGACY.ring_id, "implausible", "open")
    ]
    assert first.summary["rings"] == {"open": 1, "confirmed": 0, "dismissed": 0}
    held = first.tables["tiers.csv"].set_index("member_id")["no_open_fraud_ring"]
    assert not held.loc[list(LEGACY.members)].any()
    assert (first.tables["risk.csv"]["ring_kind"] == "").all()  # risk reads this run's rings

    store.review_ring(LEGACY.ring_id, "dismissed", reviewer="ann", note="one-hour ratings")
    second = analyze(store, tmp_path / "second")
    assert [(ring.ring_id, ring.status) for ring in store.rings()] == [
        (LEGACY.ring_id, "dismissed")
    ]
    assert second.summary["rings"] == {"open": 0, "confirmed": 0, "dismissed": 1}
    assert second.tables["tiers.csv"].set_index("member_id")["no_open_fraud_ring"].all()
    assert [review.status for review in store.ring_reviews(LEGACY.ring_id)] == ["dismissed"]
