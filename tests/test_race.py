"""N processes advancing the same plan at once on one SQLite file."""

from __future__ import annotations

import multiprocessing

import pytest
from helpers import CAST, race_worker

from napflow import services
from napflow.runtime import Runtime

N = 8
COORD = CAST["coordinator"][0]


def race(db_url: str, argvs: list[list[str]]) -> list[tuple[int, str, str]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(argvs))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=race_worker, args=(["--db", db_url, *argv], barrier, results))
        for argv in argvs
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return outcomes


@pytest.mark.slow
def test_same_version_race_has_exactly_one_winner(rt: Runtime, db_url: str, nap_plan: str) -> None:
    version = services.show_plan(rt, nap_plan).version
    argv = [
        "advance",
        nap_plan,
        "submit_for_review",
        "--as",
        COORD,
        "--expect-version",
        str(version),
    ]
    outcomes = race(db_url, [argv] * N)
    winners = [o for o in outcomes if o[0] == 0]
    losers = [o for o in outcomes if o[0] != 0]
    assert len(winners) == 1, outcomes
    assert all(code == 1 for code, _, _ in losers)
    now = services.show_plan(rt, nap_plan).version
    assert all(f"{nap_plan} is at version {now}, not {version}" in err for _, _, err in losers)
    records = services.plan_history(rt, nap_plan).records
    assert [(r.kind, r.trigger) for r in records[version:]] == [
        ("transition", "submit_for_review"),
        ("deadline_added", None),
    ]


@pytest.mark.slow
def test_same_trigger_race_without_version_moves_the_plan_once(
    rt: Runtime, db_url: str, nap_plan: str
) -> None:
    version = services.show_plan(rt, nap_plan).version
    outcomes = race(db_url, [["advance", nap_plan, "submit_for_review", "--as", COORD]] * N)
    assert sorted(code for code, _, _ in outcomes) == [0] + [1] * (N - 1)
    assert all("it is in working_group_review" in err for code, _, err in outcomes if code)
    new = services.plan_history(rt, nap_plan).records[version:]
    assert [r.trigger for r in new if r.kind == "transition"] == ["submit_for_review"]


@pytest.mark.slow
def test_concurrent_endorsements_are_all_recorded_in_sequence(
    rt: Runtime, db_url: str, nap_plan: str
) -> None:
    members = [f"wg{i}@example.org" for i in range(N)]
    for email in members:
        services.add_person(rt, email, email)
        services.grant_role(rt, nap_plan, email, "wg_member")
    services.advance_plan(rt, nap_plan, "submit_for_review", COORD)
    version = services.show_plan(rt, nap_plan).version
    outcomes = race(db_url, [["advance", nap_plan, "endorse", "--as", m] for m in members])
    assert [code for code, _, _ in outcomes] == [0] * N, outcomes
    records = services.plan_history(rt, nap_plan).records
    assert [r.seq for r in records] == list(range(1, version + N + 1))
    assert sorted(r.actor for r in records[version:]) == members
