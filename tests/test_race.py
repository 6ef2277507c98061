"""N processes advancing the same plans at once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest
from helpers import CAST, advance_loop_worker, race_worker, report_plans

from napflow import services
from napflow.runtime import Runtime
from napflow.services.audit import verify_ledger

N = 8
COORD = CAST["coordinator"][0]


def together(target: Callable[..., None], argss: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(*args, barrier, results)`` in one process per ``args``, all released at
    once by the barrier; return what each put on the results queue."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(argss))
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for args in argss]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return outcomes


def race(db_url: str, argvs: list[list[str]]) -> list[tuple[int, str, str]]:
    """Run the CLI with each of ``argvs`` in its own process, all at once."""
    return together(race_worker, [(["--db", db_url, *argv],) for argv in argvs])


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


@pytest.mark.slow
def test_sixteen_processes_keep_every_chain_unbroken_and_every_version_step_unique(
    rt: Runtime, db_url: str
) -> None:
    keys = report_plans(rt, 4)
    before = {key: services.show_plan(rt, key).version for key in keys}
    workers, rounds = 16, 25
    outcomes = together(advance_loop_worker, [(db_url, keys, rounds, n) for n in range(workers)])
    assert [errors for _, _, errors in outcomes] == [[]] * workers
    successes = [s for done, _, _ in outcomes for s in done]
    assert len(successes) + sum(refused for _, refused, _ in outcomes) == workers * rounds
    assert len(successes) >= len(keys)  # the plans really moved
    for key in keys:
        mine = [s for s in successes if s[0] == key]
        versions = sorted(version for _, version, _, _ in mine)
        # every version step taken once: no two winners of one version, no gap
        assert versions == list(range(before[key] + 1, before[key] + len(mine) + 1))
        assert services.show_plan(rt, key).version == before[key] + len(mine)
        moves = [
            (r.from_state, r.to_state)
            for r in services.plan_history(rt, key).records
            if r.kind == "transition"
        ]
        assert len(moves) == len(mine)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(moves))
    report = verify_ledger(rt)
    assert report.ok, report.problems
    assert report.plans == len(keys)
