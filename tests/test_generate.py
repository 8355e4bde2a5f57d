"""Tests of the synthetic time-bank generator (`graph.generate`)."""

from __future__ import annotations

import dataclasses
import doctest
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graph.generate as gen
from graph.generate import GeneratedDataset, GeneratorParams, generate, write_dataset

N = 3000
SEED = 11
DAY = pd.Timedelta(days=1)
FILES = ("members.csv", "sessions.csv", "referrals.csv", "redemptions.csv", "truth.json")


def _times(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, format="ISO8601")


def _groups(ds: GeneratedDataset, kind: str) -> list[gen.PlantedGroup]:
    return [g for g in ds.truth if g.kind == kind]


def _planted_sessions(ds: GeneratedDataset, group: gen.PlantedGroup) -> pd.DataFrame:
    s = ds.sessions
    return s[s.session_id.isin(group.session_ids)]


@pytest.fixture(scope="module")
def params() -> GeneratorParams:
    return GeneratorParams(members=N, seed=SEED)


@pytest.fixture(scope="module")
def ds(params: GeneratorParams) -> GeneratedDataset:
    return generate(params)


@pytest.fixture(scope="module")
def written(ds: GeneratedDataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_dataset(ds, tmp_path_factory.mktemp("gen"))


@pytest.fixture(scope="module")
def raw(written: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """The written CSVs read back as text, empty fields as empty strings."""
    return {
        name: pd.read_csv(path, dtype=str, keep_default_na=False)
        for name, path in written.items()
        if path.suffix == ".csv"
    }


@pytest.fixture(scope="module")
def fraud_accounts(ds: GeneratedDataset) -> set[str]:
    return {m for g in ds.truth if g.kind != "honest_circle" for m in g.members}


# ---------------------------------------------------------------------------- schema


def test_columns_follow_schema(ds: GeneratedDataset, raw: dict[str, pd.DataFrame]) -> None:
    expected = {
        "members": list(gen.MEMBER_COLUMNS),
        "sessions": list(gen.SESSION_COLUMNS),
        "referrals": list(gen.REFERRAL_COLUMNS),
        "redemptions": list(gen.REDEMPTION_COLUMNS),
    }
    assert expected["members"][:2] == ["member_id", "joined_at"]
    for name, columns in expected.items():
        assert list(getattr(ds, name).columns) == columns
        assert list(raw[name].columns) == columns


def test_written_csv_text_format(written: dict[str, Path], raw: dict[str, pd.DataFrame]) -> None:
    header = written["members"].read_text("utf-8").splitlines()[0]
    assert header == ",".join(gen.MEMBER_COLUMNS)  # no quotes, no index
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
    for name, column in [
        ("members", "joined_at"),
        ("sessions", "started_at"),
        ("referrals", "referred_at"),
        ("redemptions", "redeemed_at"),
    ]:
        assert raw[name][column].str.match(iso).all(), (name, column)
    activated = raw["members"].activated_at
    assert ((activated == "") | activated.str.match(iso)).all()
    assert (activated == "").any()
    rating = raw["sessions"].rating
    assert ((rating == "") | rating.str.fullmatch(r"-?\d+")).all()  # "9", never "9.0"
    assert (rating == "").any()
    assert raw["sessions"].hours.str.fullmatch(r"\d+(\.\d{1,2})?").all()
    for frame in raw.values():
        for column in frame.columns:
            assert not frame[column].isin(["nan", "NaN", "None", "<NA>"]).any(), column
    names = raw["members"].display_name
    assert names.str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()


def test_ids_unique_and_referentially_intact(ds: GeneratedDataset) -> None:
    m, s, r, red = ds.members, ds.sessions, ds.referrals, ds.redemptions
    assert len(m) == N
    assert m.member_id.is_unique
    assert s.session_id.is_unique
    assert red.redemption_id.is_unique
    assert m.member_id.str.fullmatch(r"m\d{6}").all()
    assert s.session_id.str.fullmatch(r"s\d{7}").all()
    assert m.community_id.str.fullmatch(r"c\d{3}").all()
    assert red.merchant_id.str.fullmatch(r"mer\d{3}").all()
    known = set(m.member_id)
    for column in (s.helper_id, s.recipient_id, r.referrer_id, r.referee_id, red.member_id):
        assert set(column) <= known
    assert (s.helper_id != s.recipient_id).all()


def test_times_inside_window_and_after_joining(ds: GeneratedDataset) -> None:
    start, end = pd.Timestamp(ds.params.start), pd.Timestamp(ds.params.end)
    m, s = ds.members, ds.sessions
    joined = _times(m.joined_at)
    activated = _times(m.activated_at)
    started = _times(s.started_at)
    for t in (joined, activated.dropna(), started, _times(ds.redemptions.redeemed_at)):
        assert t.min() >= start
        assert t.max() <= end
    assert (activated.dropna() >= joined[activated.notna()]).all()
    assert joined.is_monotonic_increasing  # ids follow registration order
    assert started.is_monotonic_increasing  # ids follow start order
    joined_by_id = pd.Series(joined.to_numpy(), index=m.member_id)
    assert (started.to_numpy() > joined_by_id[s.helper_id].to_numpy()).all()
    assert (started.to_numpy() > joined_by_id[s.recipient_id].to_numpy()).all()
    # Growth: more members join in the second half of the window than in the first.
    middle = start + (end - start) / 2
    assert (joined > middle).sum() > 1.3 * (joined <= middle).sum()


def test_session_value_mix(ds: GeneratedDataset) -> None:
    s = ds.sessions
    assert 9.0 * N <= len(s) <= 11.0 * N
    assert ((s.hours > 0) & (s.hours <= 24)).all()
    assert s.hours.between(0.5, 3.0).mean() > 0.85
    assert set(s.service) <= set(gen.SERVICES)
    rated = s.rating.dropna()
    assert rated.between(-10, 10).all()
    assert 0.01 <= (rated < 0).mean() <= 0.05
    assert rated.between(7, 10).mean() > 0.8
    assert 0.02 <= s.rating.isna().mean() <= 0.2
    share = s.status.value_counts(normalize=True)
    assert set(share.index) == set(gen.STATUSES)
    assert 0.92 <= share["confirmed"] <= 0.98
    assert 0.01 <= share["pending"] <= 0.06
    assert 0.01 <= share["disputed"] <= 0.04


def test_honest_sessions_are_local_repeated_and_reciprocal(ds: GeneratedDataset) -> None:
    s, m = ds.sessions, ds.members
    community = m.set_index("member_id").community_id
    local = community[s.helper_id].to_numpy() == community[s.recipient_id].to_numpy()
    assert local.mean() > 0.8
    edges = set(zip(s.helper_id, s.recipient_id, strict=True))
    reciprocity = np.mean([(b, a) in edges for a, b in edges])
    assert 0.15 <= reciprocity <= 0.35
    pair = pd.Series(
        [min(a, b) + max(a, b) for a, b in zip(s.helper_id, s.recipient_id, strict=True)]
    )
    assert (pair.map(pair.value_counts()) >= 3).mean() > 0.35  # regular partners
    # Giving propensity: some members mostly give, others mostly receive.
    gives = s.helper_id.value_counts()
    gets = s.recipient_id.value_counts()
    both = pd.concat([gives, gets], axis=1).fillna(0)
    busy = both[both.sum(axis=1) >= 10]
    frac = busy.iloc[:, 0] / busy.sum(axis=1)
    assert (frac > 0.8).mean() > 0.05
    assert (frac < 0.2).mean() > 0.05


def test_members_activation_and_identifiers(
    ds: GeneratedDataset, params: GeneratorParams, fraud_accounts: set[str]
) -> None:
    m = ds.members
    assert abs(m.activated_at.notna().mean() - params.activation_rate) < 0.04
    assert m.phone_hash.str.fullmatch(r"[0-9a-f]{32}").all()
    assert m.device_id.str.fullmatch(r"[0-9a-f]{16}").all()
    honest = m[~m.member_id.isin(fraud_accounts)]
    assert honest.phone_hash.is_unique
    shared = honest[honest.device_id.duplicated(keep=False)]
    assert 0.003 <= len(shared) / len(honest) <= 0.04  # families: a hard negative
    assert (shared.groupby("device_id").community_id.nunique() == 1).all()
    assert len(set(m.community_id)) == ds.params.communities


def test_referral_forest(ds: GeneratedDataset, params: GeneratorParams) -> None:
    r, m = ds.referrals, ds.members
    assert r.referee_id.is_unique
    assert (r.referrer_id != r.referee_id).all()
    g = nx.DiGraph(zip(r.referrer_id, r.referee_id, strict=True))
    assert nx.is_directed_acyclic_graph(g)
    assert max(d for _, d in g.in_degree()) == 1
    assert abs(len(r) / len(m) - params.referral_share) < 0.05
    by_id = m.set_index("member_id")
    joined = _times(by_id.joined_at)
    assert (joined[r.referrer_id].to_numpy() < joined[r.referee_id].to_numpy()).all()
    assert (r.referred_at.to_numpy() == by_id.joined_at[r.referee_id].to_numpy()).all()
    same = by_id.community_id[r.referrer_id].to_numpy() == by_id.community_id[r.referee_id]
    assert same.mean() > 0.8
    fanout = r.referrer_id.value_counts()
    assert fanout.between(1, 3).mean() > 0.7  # most bring 1-3 ...
    assert fanout.max() >= 8  # ... a few bring many


def test_redemptions_never_overdraw(ds: GeneratedDataset) -> None:
    assert len(ds.redemptions) > 0.1 * N
    _check_balances(ds)


def _check_balances(ds: GeneratedDataset) -> None:
    red, s = ds.redemptions, ds.sessions
    assert (red.credits > 0).all()
    confirmed = s[s.status == "confirmed"]
    earn = pd.DataFrame(
        {"member": confirmed.helper_id, "t": _times(confirmed.started_at), "delta": confirmed.hours}
    )
    spend = pd.DataFrame(
        {"member": red.member_id, "t": _times(red.redeemed_at), "delta": -red.credits}
    )
    events = pd.concat([earn.assign(order=0), spend.assign(order=1)])
    events = events[events.member.isin(set(red.member_id))]
    events = events.sort_values(["member", "t", "order"], kind="stable")
    balance = events.groupby("member").delta.cumsum()
    assert balance.min() >= -1e-9
    spent = red.groupby("member_id").credits.sum()
    earned = confirmed.groupby("helper_id").hours.sum()
    assert (spent <= earned[spent.index] + 1e-9).all()
    assert spent.sum() < earned.sum()


# ---------------------------------------------------------------------------- truth


def test_truth_json_matches_dataset(ds: GeneratedDataset, written: dict[str, Path]) -> None:
    truth = json.loads(written["truth"].read_text("utf-8"))
    assert set(truth) == {"params", "groups"}
    assert truth["params"]["members"] == N
    assert truth["params"]["loops"] == ds.params.loops
    assert truth["params"]["loop_size"] == list(ds.params.loop_size)
    assert [g["group_id"] for g in truth["groups"]] == [g.group_id for g in ds.truth]
    for entry, group in zip(truth["groups"], ds.truth, strict=True):
        assert set(entry) == {"group_id", "kind", "members", "session_ids"}
        assert entry["kind"] == group.kind
        assert entry["members"] == list(group.members)
        assert entry["session_ids"] == list(group.session_ids)
    all_ids = [sid for g in ds.truth for sid in g.session_ids]
    assert len(all_ids) == len(set(all_ids))
    assert set(all_ids) <= set(ds.sessions.session_id)
    kinds = [g.kind for g in ds.truth]
    assert all(kinds.count(k) == 2 for k in ("loop", "pair", "sybil_farm", "honest_circle"))


def test_loops_cycle_among_new_accounts(ds: GeneratedDataset, params: GeneratorParams) -> None:
    end = pd.Timestamp(params.end)
    joined = _times(ds.members.set_index("member_id").joined_at)
    for group in _groups(ds, "loop"):
        k = len(group.members)
        assert params.loop_size[0] <= k <= params.loop_size[1]
        s = _planted_sessions(ds, group)
        assert len(s) == len(group.session_ids)
        cycle = {(group.members[i], group.members[(i + 1) % k]) for i in range(k)}
        edges = set(zip(s.helper_id, s.recipient_id, strict=True))
        assert edges == cycle  # A→B→…→A in the listed order, nothing else
        assert s.groupby(["helper_id", "recipient_id"]).size().min() >= 3  # repeatedly
        t = _times(s.started_at)
        assert t.max() - t.min() <= 8 * 7 * DAY
        assert s.hours.between(*params.fraud_hours).all()
        assert (s.rating == 10).all()
        j = joined[list(group.members)]
        assert j.max() - j.min() <= 4 * DAY
        assert j.min() >= end - 366 * DAY
        assert j.max() < t.min()


def test_pairs_exchange_both_ways(ds: GeneratedDataset, params: GeneratorParams) -> None:
    for group in _groups(ds, "pair"):
        a, b = group.members
        s = _planted_sessions(ds, group)
        edges = set(zip(s.helper_id, s.recipient_id, strict=True))
        assert edges == {(a, b), (b, a)}
        t = _times(s.started_at)
        assert t.max() - t.min() <= 21 * DAY
        assert s.hours.between(*params.fraud_hours).all()


def test_sybil_farms(ds: GeneratedDataset, params: GeneratorParams) -> None:
    m = ds.members.set_index("member_id")
    referrer = ds.referrals.set_index("referee_id").referrer_id
    s = ds.sessions
    for group in _groups(ds, "sybil_farm"):
        recruiter, *fakes = group.members
        assert params.farm_size[0] <= len(group.members) <= params.farm_size[1]
        assert (referrer[fakes] == recruiter).all()
        joined = _times(m.joined_at[fakes])
        assert joined.max() - joined.min() <= 2 * DAY  # a burst
        assert _times(m.joined_at[[recruiter]]).iloc[0] < joined.min()
        assert m.device_id[fakes].nunique() <= max(1, len(fakes) // 2)
        assert m.phone_hash[fakes].nunique() <= max(1, len(fakes) // 2)
        assert m.device_id[fakes].value_counts().min() >= 2
        assert m.community_id[list(group.members)].nunique() == 1
        farm = set(group.members)
        touching = s[s.helper_id.isin(fakes) | s.recipient_id.isin(fakes)]
        assert touching.helper_id.isin(farm).all()
        assert touching.recipient_id.isin(farm).all()
        assert set(touching.session_id) == set(group.session_ids)
        assert (touching.helper_id == recruiter).mean() > 0.3


def test_honest_circles_are_long_lived_and_local(
    ds: GeneratedDataset, fraud_accounts: set[str]
) -> None:
    m = ds.members.set_index("member_id")
    s = ds.sessions
    for group in _groups(ds, "honest_circle"):
        members = list(group.members)
        assert 4 <= len(members) <= 8
        assert not set(members) & fraud_accounts
        assert m.community_id[members].nunique() == 1
        mine = _planted_sessions(ds, group)
        assert mine.helper_id.isin(members).all()
        assert mine.recipient_id.isin(members).all()
        t = _times(mine.started_at).sort_values()
        assert t.max() - t.min() >= 60 * DAY
        gaps = t.diff().dropna().dt.total_seconds() / 86_400
        assert gaps.median() <= 8  # about weekly
        assert t.min() - _times(m.joined_at[members]).max() >= 60 * DAY  # long-tenured
        assert mine.hours.between(1, 2).all()
        assert mine.rating.dropna().between(7, 10).mean() > 0.6  # normal, not all 10s
        assert (mine.rating == 10).mean() < 0.8
        # Embedded in the community: members also help people outside the circle.
        other = s[
            (s.helper_id.isin(members) | s.recipient_id.isin(members))
            & ~s.session_id.isin(group.session_ids)
        ]
        assert len(other) >= 3 * len(members)


def test_fraud_accounts_carry_camouflage(ds: GeneratedDataset, fraud_accounts: set[str]) -> None:
    s = ds.sessions
    planted = {sid for g in ds.truth for sid in g.session_ids}
    for kind in ("loop", "pair"):
        accounts = {a for g in _groups(ds, kind) for a in g.members}
        touching = s[s.helper_id.isin(accounts) | s.recipient_id.isin(accounts)]
        camo = touching[~touching.session_id.isin(planted)]
        assert len(camo) > 0
        # Camouflage partners are honest members and the sessions look ordinary.
        partners = set(camo.helper_id) | set(camo.recipient_id)
        assert not (partners - accounts) & fraud_accounts
        assert camo.hours.max() <= 6


# ---------------------------------------------------------------------------- params


def _small(**overrides: object) -> GeneratedDataset:
    return generate(GeneratorParams(**{"members": 2000, "seed": 3, **overrides}))  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [3, 6])
def test_loop_size_controls_loops(size: int) -> None:
    ds = _small(loop_size=(size, size), loops=3)
    loops = _groups(ds, "loop")
    assert len(loops) == 3
    assert all(len(g.members) == size for g in loops)
    for g in loops:
        s = _planted_sessions(ds, g)
        assert s.helper_id.nunique() == size


def test_camouflage_controls_outside_sessions() -> None:
    def per_account(ds: GeneratedDataset) -> float:
        planted = {sid for g in ds.truth for sid in g.session_ids}
        accounts = {a for g in ds.truth if g.kind in ("loop", "pair") for a in g.members} | {
            g.members[0] for g in _groups(ds, "sybil_farm")
        }
        s = ds.sessions[~ds.sessions.session_id.isin(planted)]
        touching = s.helper_id.isin(accounts) | s.recipient_id.isin(accounts)
        return float(touching.sum()) / len(accounts)

    assert per_account(_small(camouflage=0.0)) == 0.0
    assert 6.0 <= per_account(_small(camouflage=10.0)) <= 14.0


def test_fraud_hours_control_planted_hours() -> None:
    ds = _small(fraud_hours=(10.0, 12.0))
    fraud = [g for g in ds.truth if g.kind != "honest_circle"]
    hours = pd.concat([_planted_sessions(ds, g).hours for g in fraud])
    assert hours.between(10.0, 12.0).all()
    assert hours.nunique() > 1
    assert ds.sessions.hours.max() <= 12.0
    odd = _small(fraud_hours=(4.2, 4.4))
    hours = pd.concat([_planted_sessions(odd, g).hours for g in odd.truth if g.kind == "pair"])
    assert hours.between(4.2, 4.4).all()


def test_group_counts_and_defaults() -> None:
    ds = _small(loops=0, pairs=1, sybil_farms=4, honest_circles=0)
    assert [g.kind for g in ds.truth] == ["pair"] + ["sybil_farm"] * 4
    resolved = GeneratorParams(members=1_000_000, seed=0).resolved()
    assert resolved.communities == 2500
    assert resolved.loops == resolved.pairs == 666
    # Honest cohorts scale with the other groups only beside adaptations.
    assert resolved.honest_cohorts == 0
    adapted = GeneratorParams(members=1_000_000, seed=0, adaptations=("slow",)).resolved()
    assert adapted.honest_cohorts == resolved.loops
    assert GeneratorParams(members=500, seed=0).resolved().loops == 1
    assert GeneratorParams(members=100, seed=0).resolved().loops == 0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"members": 10}, "members"),
        ({"seed": -1}, "seed"),
        ({"sessions_per_member": -1.0}, "sessions_per_member"),
        ({"communities": 0}, "communities"),
        ({"start": "not a date"}, "start"),
        ({"start": "2026-01-01", "end": "2026-03-01"}, "180 days"),
        ({"activation_rate": 1.5}, "activation_rate"),
        ({"referral_share": 1.0}, "referral_share"),
        ({"loops": -1}, "loops"),
        ({"loop_size": (2, 4)}, "loop_size"),
        ({"loop_size": (5, 4)}, "loop_size"),
        ({"farm_size": (6,)}, "farm_size"),
        ({"fraud_hours": (0.0, 5.0)}, "fraud_hours"),
        ({"fraud_hours": (5.0, 30.0)}, "fraud_hours"),
        ({"camouflage": -0.5}, "camouflage"),
        ({"loops": 200}, "20%"),
        ({"honest_circles": 100}, "honest circles"),
        ({"adaptations": ("slow", "fast")}, "'fast'.*slow, aged, recruited, padded"),
        ({"adaptations": "slow"}, "tuple of names"),
        ({"honest_cohorts": -1}, "honest_cohorts"),
        ({"honest_cohorts": 60}, "honest cohorts"),
        ({"adaptations": gen.ADAPTATIONS, "start": "2025-03-01"}, "start earlier"),
    ],
)
def test_invalid_params_raise(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GeneratorParams(**{"members": 2000, "seed": 0, **overrides})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- determinism


def test_same_params_give_identical_files(tmp_path: Path) -> None:
    params = GeneratorParams(members=1500, seed=42)
    a = write_dataset(generate(params), tmp_path / "a")
    b = write_dataset(generate(params), tmp_path / "b")
    assert sorted(p.name for p in a.values()) == sorted(FILES)
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    c = write_dataset(generate(GeneratorParams(members=1500, seed=43)), tmp_path / "c")
    for key in ("members", "sessions", "referrals", "redemptions", "truth"):
        assert a[key].read_bytes() != c[key].read_bytes(), key


def test_generate_does_not_depend_on_global_random_state() -> None:
    params = GeneratorParams(members=500, seed=1)
    np.random.seed(0)
    first = generate(params)
    np.random.seed(99)
    second = generate(params)
    pd.testing.assert_frame_equal(first.sessions, second.sessions)
    assert first.truth == second.truth


@settings(max_examples=6, deadline=None)
@given(members=st.integers(20, 900), seed=st.integers(0, 2**32 - 1))
def test_invariants_hold_for_any_seed(members: int, seed: int) -> None:
    ds = generate(GeneratorParams(members=members, seed=seed))
    s, m, r = ds.sessions, ds.members, ds.referrals
    assert len(m) == members
    assert (s.helper_id != s.recipient_id).all()
    assert set(s.helper_id) | set(s.recipient_id) <= set(m.member_id)
    assert _times(s.started_at).max() <= pd.Timestamp(ds.params.end)
    assert r.referee_id.is_unique
    assert nx.is_directed_acyclic_graph(nx.DiGraph(zip(r.referrer_id, r.referee_id, strict=True)))


def test_docstring_examples() -> None:
    result = doctest.testmod(gen, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------------------- adaptations
#
# Each `_check_*` states on the generated data what an adaptation promises. Every check passes
# on data generated with its adaptation (alone and in the full mix) and fails on data without.

YEAR = 365 * DAY


class _View:
    """A generated dataset with the lookups the checks share."""

    def __init__(self, ds: GeneratedDataset) -> None:
        self.ds = ds
        s = ds.sessions
        self.joined = _times(ds.members.set_index("member_id").joined_at)
        self.community = ds.members.set_index("member_id").community_id
        self.started = pd.Series(_times(s.started_at).to_numpy(), index=s.session_id)
        self.end = pd.Timestamp(ds.params.end)
        self.fraud = [g for g in ds.truth if g.kind in gen.FRAUD_KINDS]
        self.fraud_accounts = {m for g in self.fraud for m in g.members}

    def planted(self, group: gen.PlantedGroup) -> pd.DataFrame:
        """The group's planted sessions, in time order."""
        mine = _planted_sessions(self.ds, group).assign(t=lambda f: _times(f.started_at))
        return mine.sort_values("t", kind="stable")

    def start(self, group: gen.PlantedGroup) -> pd.Timestamp:
        return pd.Timestamp(self.started[list(group.session_ids)].min())

    def touching(self, member: str) -> pd.DataFrame:
        s = self.ds.sessions
        return s[(s.helper_id == member) | (s.recipient_id == member)]

    def new_accounts(self, group: gen.PlantedGroup) -> list[str]:
        """Accounts less than a year old when the group's scheme starts (the others are
        established members it recruited)."""
        return [m for m in group.members if self.start(group) - self.joined[m] < YEAR]


def _max_in_window(times: pd.Series, width: pd.Timedelta) -> int:
    t = np.sort(times.to_numpy())
    return int(
        (np.searchsorted(t, t + width.to_timedelta64(), side="right") - np.arange(len(t))).max()
    )


def _check_slow(v: _View) -> None:
    for group in v.fraud:
        s = v.planted(group)
        if group.kind == "sybil_farm":
            # Trading spread over 180 days or more, evenly: a 30-day window holds about a
            # sixth of it at most.
            assert _max_in_window(s.t, 30 * DAY) <= math.ceil(len(s) / 6) + 1, group.group_id
            continue
        k = len(group.members)
        order = {m: i for i, m in enumerate(group.members)}
        hops = [(order[a], order[b]) for a, b in zip(s.helper_id, s.recipient_id, strict=True)]
        # Trips go round in cycle order, one hop after another, every edge at least 3 times.
        assert all(b == (a + 1) % k for a, b in hops), group.group_id
        assert all(hops[i + 1][0] == hops[i][1] for i in range(len(hops) - 1)), group.group_id
        assert s.groupby(["helper_id", "recipient_id"]).size().min() >= 3
        # Any k consecutive hops (a whole trip's edges) span more than 30 days, so no 14- or
        # 30-day window holds the loop, or a pair's two directions.
        t = s.t.to_numpy()
        assert (t[k - 1 :] - t[: len(t) - k + 1] > (30 * DAY).to_timedelta64()).all(), (
            group.group_id
        )


def _check_aged(v: _View) -> None:
    for group in v.fraud:
        start = v.start(group)
        for member in group.members:
            first = (
                v.planted(group).query("helper_id == @member or recipient_id == @member").t.min()
            )
            # (A farm referee may happen to trade with nobody.)
            assert pd.isna(first) or first - v.joined[member] >= 180 * DAY, (group.group_id, member)
        new = v.new_accounts(group)
        assert new, group.group_id
        for member in new:  # dormant: not one session from joining to the scheme
            early = _times(v.touching(member).started_at) < start
            assert not early.any(), (group.group_id, member)
        joined = v.joined[new].sort_values()
        if len(joined) > 1:  # joined apart, never in one burst
            assert joined.diff().dropna().min() >= 2 * DAY, group.group_id
            assert joined.max() - joined.min() >= 14 * DAY, group.group_id


def _check_recruited(v: _View) -> None:
    referrer = v.ds.referrals.set_index("referee_id").referrer_id
    devices = v.ds.members.set_index("member_id").device_id
    for group in v.fraud:
        start = v.start(group)
        new = v.new_accounts(group)
        recruits = [m for m in group.members if m not in new]  # a year's standing or more
        assert len(recruits) >= max(1, len(group.members) // 2), group.group_id
        for member in recruits:  # each with its own honest history before the scheme
            before = v.touching(member)
            before = before[
                (_times(before.started_at) < start) & ~before.session_id.isin(group.session_ids)
            ]
            assert len(before) >= 3, (group.group_id, member)
        if group.kind == "sybil_farm":
            recruiter = group.members[0]
            assert recruiter in recruits
            assert new
            assert (referrer[new] == recruiter).all()
            assert devices[new].nunique() <= max(1, len(new) // 2)  # only fakes share
            assert devices[recruits].is_unique


def _check_padded(v: _View) -> None:
    s = v.ds.sessions
    for group in v.fraud:
        span = v.end - v.start(group)
        new = v.new_accounts(group)
        for member in group.members:
            given = s[(s.helper_id == member) & ~s.recipient_id.isin(group.members)]
            padding = given[given.hours == 1.0]
            assert len(padding) >= 30, (group.group_id, member)
            if member in new:  # real help to honest members (a recruit's history is its own)
                assert not set(padding.recipient_id) & v.fraud_accounts
            t = _times(padding.started_at)
            assert t.max() - t.min() >= span / 3, (group.group_id, member)  # spread out


def _check_cohorts(v: _View) -> None:
    cohorts = _groups(v.ds, "honest_cohort")
    assert cohorts
    referrer = v.ds.referrals.set_index("referee_id").referrer_id
    s = v.ds.sessions
    for group in cohorts:
        members = list(group.members)
        assert len(members) == 4
        assert not set(members) & v.fraud_accounts
        joined = v.joined[members]
        assert joined.max() - joined.min() < 7 * DAY  # the same week
        (sponsor,) = set(referrer[members])  # one referrer ...
        assert sponsor not in members
        assert joined.min() - v.joined[sponsor] >= YEAR  # ... who is established
        assert (v.community[members] == v.community[sponsor]).all()
        mutual = _planted_sessions(v.ds, group)
        assert mutual.helper_id.isin(members).all()
        assert mutual.recipient_id.isin(members).all()
        assert set(mutual.helper_id) == set(mutual.recipient_id) == set(members)
        helpers: set[str] = set()
        for member in members:
            helped = s[(s.recipient_id == member) & ~s.helper_id.isin(members)]
            established = helped[
                (v.joined[member] - v.joined[helped.helper_id]).to_numpy() >= YEAR.to_timedelta64()
            ]
            # The referrer's welcome and at least two more sessions of established help
            # (from whoever is established: in a small bank that may be the referrer again).
            assert len(established) >= 3, (group.group_id, member)
            assert sponsor in set(established.helper_id)
            assert not set(helped.helper_id) & v.fraud_accounts
            helpers |= set(established.helper_id)
        assert len(helpers) >= 2, group.group_id


CHECKS = {
    "slow": _check_slow,
    "aged": _check_aged,
    "recruited": _check_recruited,
    "padded": _check_padded,
}


@pytest.fixture(scope="module")
def plain(ds: GeneratedDataset) -> _View:
    return _View(ds)


@pytest.fixture(scope="module")
def mixed(params: GeneratorParams) -> _View:
    """Every adaptation at once, honest cohorts at their automatic count."""
    return _View(generate(dataclasses.replace(params, adaptations=gen.ADAPTATIONS)))


def test_adaptations_are_listed_once_in_a_fixed_order() -> None:
    params = GeneratorParams(members=3000, seed=0, adaptations=("padded", "slow", "padded"))
    assert params.adaptations == ("slow", "padded")
    assert set(gen.ADAPTATIONS) == set(CHECKS)


@pytest.mark.parametrize("name", gen.ADAPTATIONS)
def test_each_adaptation_does_what_it_says(name: gen.Adaptation, plain: _View) -> None:
    adapted = _View(_small(members=N, seed=SEED, adaptations=(name,)))
    CHECKS[name](adapted)
    with pytest.raises(AssertionError):  # the check measures something plain data lacks
        CHECKS[name](plain)
    # Fraud stays fraud: as many planted groups of each kind, the same honest circles.
    assert [g.kind for g in adapted.ds.truth if g.kind != "honest_cohort"] == [
        g.kind for g in plain.ds.truth
    ]


def test_all_adaptations_combine(mixed: _View) -> None:
    for check in CHECKS.values():
        check(mixed)
    _check_cohorts(mixed)
    assert mixed.ds.params.honest_cohorts == gen._auto_group_count(N)


def test_honest_cohorts_alone(plain: _View) -> None:
    cohorts = _View(_small(members=N, seed=SEED, honest_cohorts=6))
    _check_cohorts(cohorts)
    assert len(_groups(cohorts.ds, "honest_cohort")) == 6
    with pytest.raises(AssertionError):
        _check_cohorts(plain)


def test_adapted_data_keeps_the_invariants(mixed: _View) -> None:
    ds = mixed.ds
    s, m, r = ds.sessions, ds.members, ds.referrals
    assert len(m) == N
    assert m.member_id.is_unique
    assert s.session_id.is_unique
    assert (s.helper_id != s.recipient_id).all()
    joined = mixed.joined
    started = _times(s.started_at)
    assert started.is_monotonic_increasing
    assert _times(m.joined_at).is_monotonic_increasing
    assert started.max() <= mixed.end
    assert (started.to_numpy() > joined[s.helper_id].to_numpy()).all()
    assert (started.to_numpy() > joined[s.recipient_id].to_numpy()).all()
    assert r.referee_id.is_unique
    assert (joined[r.referrer_id].to_numpy() < joined[r.referee_id].to_numpy()).all()
    assert nx.is_directed_acyclic_graph(nx.DiGraph(zip(r.referrer_id, r.referee_id, strict=True)))
    _check_balances(ds)
    # Every planted session is in exactly one group, and recruits are in no honest circle.
    ids = [sid for g in ds.truth for sid in g.session_ids]
    assert len(ids) == len(set(ids))
    honest = {x for g in ds.truth if g.kind in gen.HONEST_KINDS for x in g.members}
    assert not honest & mixed.fraud_accounts


def test_adapted_generation_is_deterministic(mixed: _View, params: GeneratorParams) -> None:
    again = generate(dataclasses.replace(params, adaptations=gen.ADAPTATIONS))
    for name in ("members", "sessions", "referrals", "redemptions"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(mixed.ds, name))
    assert again.truth == mixed.ds.truth


def test_truth_json_round_trips_adaptations(mixed: _View, tmp_path: Path) -> None:
    written = write_dataset(mixed.ds, tmp_path)
    truth = json.loads(written["truth"].read_text("utf-8"))
    assert truth["params"]["adaptations"] == list(gen.ADAPTATIONS)
    assert truth["params"]["honest_cohorts"] == mixed.ds.params.honest_cohorts
    assert GeneratorParams.from_dict(truth["params"]) == mixed.ds.params
    groups = [
        gen.PlantedGroup(
            **{**g, "members": tuple(g["members"]), "session_ids": tuple(g["session_ids"])}
        )
        for g in truth["groups"]
    ]
    assert groups == mixed.ds.truth
    # A truth.json written before adaptations existed reads as unadapted, without cohorts.
    old = {k: v for k, v in truth["params"].items() if k not in ("adaptations", "honest_cohorts")}
    assert GeneratorParams.from_dict(old).resolved().adaptations == ()
    assert GeneratorParams.from_dict(old).resolved().honest_cohorts == 0


def test_cli_generate_adapts_through_the_entry_point(tmp_path: Path) -> None:
    timebank = Path(sys.executable).with_name("timebank")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(timebank), "generate", "--members", "2000", "--seed", "3", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    done = run(
        "--out",
        str(tmp_path / "two"),
        "--adapt",
        "padded",
        "--adapt",
        "slow",
        "--honest-cohorts",
        "3",
    )
    assert done.returncode == 0, done.stderr
    truth = json.loads((tmp_path / "two" / "truth.json").read_text("utf-8"))
    assert truth["params"]["adaptations"] == ["slow", "padded"]
    assert [g["kind"] for g in truth["groups"]].count("honest_cohort") == 3
    done = run("--out", str(tmp_path / "all"), "--adapt", "all")
    assert done.returncode == 0, done.stderr
    truth = json.loads((tmp_path / "all" / "truth.json").read_text("utf-8"))
    assert truth["params"]["adaptations"] == list(gen.ADAPTATIONS)
    assert truth["params"]["honest_cohorts"] == gen._auto_group_count(2000)
    done = run("--out", str(tmp_path / "bad"), "--adapt", "fast")
    assert done.returncode == 2
    assert "slow, aged, recruited, padded" in done.stderr
    assert not (tmp_path / "bad").exists()


@settings(max_examples=6, deadline=None)
@given(
    members=st.integers(300, 1500),
    seed=st.integers(0, 2**32 - 1),
    adaptations=st.sets(st.sampled_from(gen.ADAPTATIONS), min_size=1),
)
def test_any_mix_of_adaptations_generates_for_any_seed(
    members: int, seed: int, adaptations: set[gen.Adaptation]
) -> None:
    ds = generate(GeneratorParams(members=members, seed=seed, adaptations=tuple(adaptations)))
    v = _View(ds)
    for name in adaptations:
        CHECKS[name](v)
    _check_cohorts(v)
