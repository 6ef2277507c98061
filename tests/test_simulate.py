"""`napflow simulate`: the Tajikistan 2015 scenario on a virtual clock, and forecasts."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

from helpers import Result

Cli = Callable[..., Result]
VIENNA = "e.huber@osce.example"
NEW_YORK = "j.okafor@un1540.example"
COORD = "f.rahimov@cbrn.tj.example"
MINISTER = "minister@mfa.tj.example"


def test_tajikistan_2015_reminders_on_the_right_local_days_and_hours(
    cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "mail"
    result = cli(
        "simulate",
        "--from",
        "2015-07-01",
        "--to",
        "2016-01-31",
        "--scenario",
        "tajikistan-2015",
        "--out",
        str(out),
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    sent = result.json()
    assert isinstance(sent, list)

    def times(to: str, words: str) -> list[tuple[str, str]]:
        return [
            (m["sent_at"], m["local_time"])
            for m in sent
            if m["recipient"] == to and words in m["subject"]
        ]

    # The Vienna follow-up session of 8-9 October: 21, 7 and 1 days before, at 09:00 where
    # each reader is (Vienna in summer time, New York, Dushanbe).
    assert times(VIENNA, "OSCE follow-up session") == [
        ("2015-09-17T07:00:00Z", "2015-09-17 09:00 CEST"),
        ("2015-10-01T07:00:00Z", "2015-10-01 09:00 CEST"),
        ("2015-10-07T07:00:00Z", "2015-10-07 09:00 CEST"),
    ]
    assert times(NEW_YORK, "OSCE follow-up session")[0] == (
        "2015-09-17T13:00:00Z",
        "2015-09-17 09:00 EDT",
    )
    assert times(COORD, "OSCE follow-up session")[0] == (
        "2015-09-17T04:00:00Z",
        "2015-09-17 09:00 +05",
    )
    # The 31 December deadline: 30, 14, 7 and 1 days before, then escalations (in Russian,
    # the language of the plan, to the Tajik officials).
    assert [t for t, _ in times(MINISTER, "Утверждение на министерском уровне")] == [
        "2015-12-01T04:00:00Z",
        "2015-12-17T04:00:00Z",
        "2015-12-24T04:00:00Z",
        "2015-12-30T04:00:00Z",
    ]
    assert [t for t, _ in times(COORD, "Пропущен срок: Утверждение на министерском уровне")] == [
        "2016-01-01T04:00:00Z",
        "2016-01-08T04:00:00Z",
        "2016-01-15T04:00:00Z",
        "2016-01-22T04:00:00Z",
        "2016-01-29T04:00:00Z",
    ]
    # Every message is a file whose Date header is the virtual time it was sent.
    files = sorted(out.glob("*.eml"))
    assert len(files) == len(sent)
    for m in sent:
        message = message_from_bytes((out / m["file"]).read_bytes(), policy=policy.default)
        assert message["Date"].datetime.isoformat().replace("+00:00", "Z") == m["sent_at"]
    table = cli(
        "simulate",
        "--from",
        "2015-09-01",
        "--to",
        "2015-09-30",
        "--scenario",
        "tajikistan-2015",
        "--out",
        str(tmp_path / "september"),
    )
    assert "written to" in table.out and "OSCE follow-up" in table.out


def test_forecast_runs_on_a_copy_and_leaves_the_database_alone(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").code == 0
    cli(
        "person", "add", "coord@example.org", "--name", "Coordinator", "--timezone", "Asia/Dushanbe"
    )
    cli("plan", "create", "--country", "TJK", "--title", "Plan", "--key", "TJK-F")
    cli("role", "grant", "TJK-F", "coord@example.org", "coordinator")
    assert cli("deadline", "add", "TJK-F", "approval", "2099-12-31").code == 0
    before = cli("reminders", "list", "--format", "json").json()
    result = cli(
        "simulate",
        "--from",
        "2099-11-01",
        "--to",
        "2100-01-02",
        "--out",
        str(tmp_path / "forecast"),
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    assert [m["recipient"] for m in result.json()] == ["coord@example.org"] * 5
    assert cli("reminders", "list", "--format", "json").json() == before
    assert not (tmp_path / "var" / "mail").exists()


def test_a_quiet_window_says_so_in_one_line_whatever_was_typed(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").code == 0
    # dates as a script might pass them, with line breaks around: accepted as dates, and
    # the sentence shows them as read, on one line
    quiet = cli(
        "simulate", "--from", "\n2099-11-01", "--to", "2099-11-02\n", "--out", str(tmp_path)
    )
    assert quiet.code == 0, quiet.err
    assert quiet.out == "No messages would be sent from 2099-11-01 to 2099-11-02.\n"


def test_bad_simulation_input(cli: Cli, tmp_path: Path) -> None:
    bad = cli(
        "simulate",
        "--from",
        "2016-01-31",
        "--to",
        "2015-07-01",
        "--scenario",
        "tajikistan-2015",
        "--out",
        str(tmp_path / "m"),
    )
    assert bad.code == 2 and "--to 2015-07-01 is before --from 2016-01-31" in bad.err
    broken = tmp_path / "broken.toml"
    broken.write_text('[[actions]]\nplan = "NOPE"\nat = "2015-07-01 09:00"\n')
    result = cli(
        "simulate",
        "--from",
        "2015-07-01",
        "--to",
        "2015-07-02",
        "--scenario",
        str(broken),
        "--out",
        str(tmp_path / "m"),
    )
    assert result.code == 2 and "broken.toml: actions[0].plan: unknown plan 'NOPE'" in result.err


def test_a_window_starting_after_the_miss_still_shows_the_escalations(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli(
        "simulate",
        "--from",
        "2016-01-10",
        "--to",
        "2016-02-28",
        "--scenario",
        "tajikistan-2015",
        "--out",
        str(tmp_path / "mail"),
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    sent = result.json()
    assert isinstance(sent, list)
    assert sorted({m["sent_at"][:10] for m in sent if m["recipient"] == COORD}) == [
        "2016-01-15",
        "2016-01-22",
        "2016-01-29",
        "2016-02-05",
        "2016-02-12",
        "2016-02-19",
        "2016-02-26",
    ]
    assert all(m["kind"] == "escalation" for m in sent)
    assert len(list((tmp_path / "mail").glob("*.eml"))) == len(sent)


def test_the_committee_review_scenario_ends_in_acceptance_without_objection(
    cli: Cli, tmp_path: Path
) -> None:
    """The shipped committee scenario: an expert rotated out, the window extended, no
    objection; napflow accepts the plan at the end of the extended window (29 April 2016,
    23:59 in Dushanbe), and everyone then on the plan is told."""
    out = tmp_path / "mail"
    result = cli(
        "simulate", "--from", "2016-02-01", "--to", "2016-05-15",
        "--scenario", "committee-review-2016", "--out", str(out), "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    sent = result.json()
    timer = [m for m in sent if m["kind"] == "timer"]
    assert [(m["plan"], m["local_time"], m["recipient"]) for m in timer] == [
        ("TJK-2016-C", "2016-04-29 23:59 +05", "")
    ]
    reminders = {(m["recipient"], m["local_time"][:10]) for m in sent if m["kind"] == "reminder"}
    # the window moved to 29 April: reminders 14, 7 and 1 days before it, to the experts on
    # the plan then who have not recommended (not the one who did, nor the one who left)
    assert reminders == {
        (who, day)
        for who in ("a.haddad@un1540.example", "l.moreau@un1540.example")
        for day in ("2016-04-15", "2016-04-22", "2016-04-28")
    }
    told = {
        m["recipient"]
        for m in sent
        if m["kind"] == "notice" and m["sent_at"] >= timer[0]["sent_at"]
    }
    assert told == {
        "f.rahimov@cbrn.tj.example",
        "chair@un1540.example",
        "j.okafor@un1540.example",
        "l.moreau@un1540.example",
        "a.haddad@un1540.example",
    }
    assert all(
        "by napflow itself" in m["subject"] or "автоматически" in m["subject"]
        for m in sent
        if m["kind"] == "notice" and m["sent_at"] >= timer[0]["sent_at"]
    )


def test_a_scenario_changes_roles_moves_deadlines_and_adds_drafts(cli: Cli, tmp_path: Path) -> None:
    """Each change of a scenario is checked as the services check it, with its key."""
    (tmp_path / "draft.txt").write_text("The plan.", encoding="utf-8")
    scenario = tmp_path / "story.toml"
    scenario.write_text(
        """
[[people]]
email = "c@example.org"
name = "Coordinator"

[[people]]
email = "m@example.org"
name = "Member"

[[plans]]
key = "UZB-1"
country = "UZB"
title = "Plan"
timezone = "Asia/Tashkent"
created = "2020-01-06 09:00"
roles = { coordinator = ["c@example.org"] }

[[deadlines]]
plan = "UZB-1"
kind = "approval"
added = "2020-01-06 10:00"
date = "2020-06-30"

[[drafts]]
plan = "UZB-1"
at = "2020-01-07 10:00"
by = "c@example.org"
file = "draft.txt"

[[roles]]
plan = "UZB-1"
at = "2020-01-08 10:00"
grant = "wg_member"
email = "m@example.org"
by = "c@example.org"

[[moves]]
plan = "UZB-1"
at = "2020-01-09 10:00"
kind = "approval"
date = "2020-07-31"
by = "c@example.org"
comment = "A month more"
""",
        encoding="utf-8",
    )
    result = cli(
        "simulate", "--from", "2020-07-01", "--to", "2020-07-31",
        "--scenario", str(scenario), "--out", str(tmp_path / "mail"), "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    days = sorted({m["local_time"][:10] for m in result.json() if m["kind"] == "reminder"})
    assert days == [
        "2020-07-01",
        "2020-07-17",
        "2020-07-24",
        "2020-07-30",
    ]  # 30/14/7/1 before 31 July
    bad = scenario.read_text().replace('grant = "wg_member"', 'grant = "wg_member"\nrevoke = "x"')
    bad = bad.replace('file = "draft.txt"', 'file = "missing.txt"')
    scenario.write_text(bad, encoding="utf-8")
    refused = cli(
        "simulate", "--from", "2020-07-01", "--to", "2020-07-31",
        "--scenario", str(scenario), "--out", str(tmp_path / "mail"),
    )  # fmt: skip
    assert refused.code == 2
    assert 'UZB-1: give either grant = "<role>" or revoke = "<role>"' in refused.err
    assert "UZB-1: no file 'missing.txt' next to the scenario" in refused.err
