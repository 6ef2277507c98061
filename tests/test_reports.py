"""Questions auditors ask, answered from the history: by period, as of a day, durations.

The Tajikistan plan of the demo was submitted on 15 July 2015, returned by the working
group on 30 July (Dushanbe meeting) and resubmitted on 21 September; the Kyrgyz plan was
returned by the experts and approved on 24 December 2021.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from helpers import Result

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime

Cli = Callable[..., Result]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def demo(rt: Runtime, clock: VirtualClock) -> Runtime:
    services.init_database(rt)
    services.load_demo(rt)
    clock.set(NOW)
    return rt


def states_as_of(cli: Cli, day: str) -> dict[str, tuple[str, int]]:
    result = cli("plan", "list", "--as-of", day, "--format", "json")
    assert result.code == 0, result.err
    return {p["key"]: (p["state"], p["version"]) for p in result.json()}  # type: ignore[attr-defined]


def test_as_of_follows_a_plan_that_was_returned_and_resubmitted(demo: Runtime, cli: Cli) -> None:
    wg, drafting = "working_group_review", "drafting"
    assert states_as_of(cli, "2013-09-01") == {}  # before any plan existed
    assert states_as_of(cli, "2015-07-14")["TJK-2015"][0] == drafting
    assert states_as_of(cli, "2015-07-29")["TJK-2015"][0] == wg  # the Dushanbe meeting
    assert states_as_of(cli, "2015-07-30")["TJK-2015"][0] == drafting  # returned that day
    assert states_as_of(cli, "2015-09-20")["TJK-2015"][0] == drafting
    assert states_as_of(cli, "2015-09-21")["TJK-2015"][0] == wg  # resubmitted
    assert states_as_of(cli, "2015-10-08") == {"TJK-2015": (wg, 21)}  # the Vienna session
    later = states_as_of(cli, "2021-08-20")
    assert later["KGZ-2021"][0] == drafting and later["TKM-2018"][0] == "submitted"
    assert states_as_of(cli, "2021-12-24")["KGZ-2021"][0] == "approved"
    assert states_as_of(cli, "2026-11-28") == {
        p.key: (p.state, p.version) for p in services.list_plans(demo)
    }


def test_as_of_is_the_end_of_the_day_in_the_plans_zone(
    nap_plan: str, rt: Runtime, clock: VirtualClock, cli: Cli
) -> None:
    # 20:00 UTC on 29 July is 01:00 on 30 July in Dushanbe
    clock.set(datetime(2015, 7, 29, 20, 0, tzinfo=UTC))
    services.advance_plan(rt, nap_plan, "submit_for_review", "coord@example.org")
    assert states_as_of(cli, "2015-07-29")[nap_plan][0] == "drafting"
    assert states_as_of(cli, "2015-07-30")[nap_plan][0] == "working_group_review"
    only = cli("plan", "list", "--as-of", "2015-07-30", "--state", "drafting", "--format", "json")
    assert only.json() == []
    table = cli("plan", "list", "--as-of", "2015-07-30")
    assert "Plans at the end of 2015-07-30" in table.out and "2015-07-30 01:00 +0500" in table.out


def test_history_by_period_in_the_plans_zone(demo: Runtime, cli: Cli) -> None:
    def seqs(*args: str) -> list[int]:
        result = cli("history", "TJK-2015", *args, "--format", "json")
        assert result.code == 0, result.err
        return [r["seq"] for r in result.json()]  # type: ignore[attr-defined]

    assert seqs("--since", "2015-10-08", "--until", "2015-10-09") == [21, 22, 23]
    assert seqs("--since", "2015-10-09") == [22, 23]
    assert 14 in seqs("--until", "2015-07-15")  # submitted at 10:00 local that day
    assert 14 not in seqs("--until", "2015-07-14")
    assert seqs("--since", "2016-01-01") == []


def test_history_as_csv_reads_back(demo: Runtime, cli: Cli) -> None:
    result = cli(
        "history", "TJK-2015", "--since", "2015-07-30", "--until", "2015-07-30", "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(result.out)))
    returned = next(r for r in rows if r["trigger"] == "request_changes")
    assert returned["at"] == "2015-07-30T07:00:00Z" and returned["to_state"] == "drafting"
    assert returned["comment"].startswith("Working-group meeting, Dushanbe, 29-30 July 2015:")
    assert returned["detail"] == ""  # the comment is not repeated


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--since", "2015-10-09", "--until", "2015-10-08"), "--until 2015-10-08 is before"),
        (("--since", "9 Oct"), "--since '9 Oct' is not a date; write it as YYYY-MM-DD."),
        (("--until", "2015-02-30"), "--until '2015-02-30' is not a date"),
    ],
)
def test_a_bad_period_is_a_one_line_error(
    demo: Runtime, cli: Cli, args: tuple[str, ...], fragment: str
) -> None:
    result = cli("history", "TJK-2015", *args)
    assert result.code == 2 and fragment in result.err and len(result.err.splitlines()) == 1


def test_durations_per_state_with_rounds_returns_and_medians(demo: Runtime, cli: Cli) -> None:
    result = cli("report", "durations", "--as-of", "2015-12-31", "--format", "json")
    assert result.code == 0, result.err
    report = result.json()
    (tjk,) = report["plans"]  # type: ignore[index]
    created = datetime(2013, 9, 2, 4, 0, tzinfo=UTC)
    submitted = datetime(2015, 7, 15, 5, 0, tzinfo=UTC)
    returned = datetime(2015, 7, 30, 7, 0, tzinfo=UTC)
    resubmitted = datetime(2015, 9, 21, 4, 30, tzinfo=UTC)
    year_end = datetime(2015, 12, 31, 19, 0, tzinfo=UTC)  # midnight in Dushanbe

    def days(delta: timedelta) -> float:
        return round(delta.total_seconds() / 86400, 2)

    assert tjk["days"] == {
        "drafting": days((submitted - created) + (resubmitted - returned)),
        "working_group_review": days((returned - submitted) + (year_end - resubmitted)),
    }
    assert tjk["rounds"] == 2
    assert [(r["trigger"], r["from_state"]) for r in tjk["returns"]] == [
        ("request_changes", "working_group_review")
    ]
    assert tjk["returns"][0]["reason"].startswith("Working-group meeting, Dushanbe")
    assert report["median_days"] == tjk["days"]  # type: ignore[index]


def test_durations_now_across_plans(demo: Runtime, cli: Cli) -> None:
    report = cli("report", "durations", "--format", "json").json()
    by_key = {p["key"]: p for p in report["plans"]}  # type: ignore[index]
    kgz = by_key["KGZ-2021"]
    assert "approved" not in kgz["days"]  # a final state counts no time
    assert kgz["days"]["submitted"] == round(
        (datetime(2021, 12, 24, 9) - datetime(2021, 11, 1, 4)).total_seconds() / 86400, 2
    )
    assert kgz["rounds"] == 2 and kgz["returns"][0]["trigger"] == "return_with_comments"
    drafting = sorted(p["days"]["drafting"] for p in by_key.values())
    assert report["median_days"]["drafting"] == drafting[1]  # type: ignore[index]
    table = cli("report", "durations")
    assert table.code == 0 and "median" in table.out and "Returns" in table.out
    rows = list(csv.reader(io.StringIO(cli("report", "durations", "--format", "csv").out)))
    assert rows[0][:5] == ["plan", "workflow", "state", "rounds", "returns"]
    assert [r[0] for r in rows[1:]] == ["KGZ-2021", "TJK-2015", "TKM-2018", "median"]
