"""Security: SQL meta-characters in every filter of the CLI, the API and the dashboard,
on a real database (SQLite and PostgreSQL; nothing of napflow is mocked).

Each gives a clear error (exit 2, 4xx) or an exact (empty) answer, never every row, never a
5xx; the tables and the ledger are intact afterwards.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from helpers import (
    CHAIR,
    KEY,
    PASSWORD,
    VIEWER,
    Cli,
    assert_escaped,
    log_in,
    snapshot,
    web_client,
)

from napflow import services
from napflow.runtime import Runtime
from napflow.services import accounts

META = ["' OR '1'='1", "%", "_", "\\", '"; DROP TABLE plans; --', "drafting' --", "*", "TJK%"]
#: addresses napflow accepts that are made of SQL meta-characters: exact matches or nothing
META_ADDRESSES = [
    "%@evil.example",
    "_@evil.example",
    "o'r@evil.example",
    "\"'or'1'='1\"@evil.example",
]


@pytest.fixture
def plans3(cast: Runtime) -> Runtime:
    """Three plans in two states, deadlines, reminders and an API token."""
    services.create_plan(cast, "KGZ", "Second plan", timezone="UTC", key="KGZ-1")
    services.create_plan(cast, "SRB", "Third plan", timezone="UTC", key="SRB-1")
    services.add_deadline(cast, KEY, "approval", "2015-12-31")
    services.add_person(cast, "o'r@evil.example", "O'Reilly")
    accounts.create_api_token(cast, "o'r@evil.example", "theirs")
    return cast


CLI_FILTERS = {
    "plan list --state": (["plan", "list", "--state", "{}"], "There is no state"),
    "plan list --as-of": (["plan", "list", "--as-of", "{}"], "is not a date"),
    "plan list --as-of --state": (
        ["plan", "list", "--as-of", "2015-07-01", "--state", "{}"],
        "There is no state",
    ),
    "plan list --country (no such filter)": (["plan", "list", "--country", "{}"], "No such option"),
    "plan show KEY": (["plan", "show", "{}"], "is not a valid plan key"),
    "plan show --as": (["plan", "show", KEY, "--as", "{}"], "is not a valid e-mail address"),
    "role list KEY": (["role", "list", "{}"], "is not a valid plan key"),
    "history KEY": (["history", "{}"], "is not a valid plan key"),
    "history --since": (["history", KEY, "--since", "{}"], "is not a date"),
    "history --until": (["history", KEY, "--until", "{}"], "is not a date"),
    "deadline list KEY": (["deadline", "list", "{}"], "is not a valid plan key"),
    "reminders list --status": (["reminders", "list", "--status", "{}"], "is not one of"),
    "reminders list --plan": (["reminders", "list", "--plan", "{}"], "is not a valid plan key"),
    "token list EMAIL": (["token", "list", "{}"], "is not a valid e-mail address"),
    "audit verify KEY": (["audit", "verify", "{}"], "is not a valid plan key"),
    "report durations --as-of": (["report", "durations", "--as-of", "{}"], "is not a date"),
}


@pytest.mark.parametrize("command", list(CLI_FILTERS))
def test_sql_meta_characters_in_a_cli_filter_are_a_clear_error(
    plans3: Runtime, cli: Cli, command: str
) -> None:
    template, refusal = CLI_FILTERS[command]
    before = snapshot(plans3)
    for value in META:
        done = cli(*[value if arg == "{}" else arg for arg in template])
        assert done.code == 2, (command, value, done)
        assert refusal in done.err and done.err.count("\n") == 1, (command, value, done.err)
        assert not done.out
    assert snapshot(plans3) == before


def test_sql_meta_characters_in_an_address_filter_match_exactly(plans3: Runtime, cli: Cli) -> None:
    before = snapshot(plans3)
    for address in META_ADDRESSES:
        listed = cli("token", "list", address)
        assert listed.code == 0, listed
        owners = re.findall(r"\S+@\S+", listed.out)
        assert owners == ([address] if address == "o'r@evil.example" else []), (address, owners)
        shown = cli("plan", "show", KEY, "--as", address, "--format", "json")
        if address == "o'r@evil.example":  # registered, holds no role: does not see the plan
            assert shown.code == 1 and f"There is no plan '{KEY}'" in shown.err, (address, shown)
        else:
            assert shown.code == 1 and "is not registered" in shown.err, (address, shown)
    assert snapshot(plans3) == before


def test_sql_meta_characters_in_api_parameters_are_a_4xx(plans3: Runtime) -> None:
    auth = {"Authorization": f"Bearer {accounts.create_api_token(plans3, CHAIR)}"}
    before = snapshot(plans3)
    with web_client(plans3) as http:
        for value in META:
            asked = [
                http.get("/api/v1/plans", params={"state": value}, headers=auth),
                http.get(f"/api/v1/plans/{KEY}/history", params={"since": value}, headers=auth),
                http.get(f"/api/v1/plans/{KEY}/history", params={"until": value}, headers=auth),
                http.get(f"/api/v1/plans/{KEY}/reminders", params={"status": value}, headers=auth),
                http.post(f"/api/v1/plans/{KEY}/advance", json={"trigger": value}, headers=auth),
            ]
            for path in ("", "/history", "/deadlines", "/reminders"):
                asked.append(http.get(f"/api/v1/plans/{quote(value, safe='')}{path}", headers=auth))
            asked.append(
                http.post(
                    f"/api/v1/plans/{quote(value, safe='')}/advance",
                    json={"trigger": "endorse"},
                    headers=auth,
                )
            )
            for response in asked:
                where = (value, response.request.method, str(response.request.url))
                assert response.status_code in (400, 404), where
                assert response.headers["content-type"] == "application/problem+json", where
                assert response.json()["detail"], where
            # an exact answer where the value is data: a comment is stored as it was sent
            comment = f"{value} -- {' '.join(META)}"
            done = http.post(
                f"/api/v1/plans/{KEY}/advance",
                json={"trigger": "request_changes", "comment": comment},
                headers=auth,
            )
            assert done.status_code == 200, done.text
            records = services.plan_history(plans3, KEY).records
            assert [r.comment for r in records if r.trigger == "request_changes"][-1] == comment
            services.advance_plan(plans3, KEY, "submit_for_review", VIEWER)
    after = snapshot(plans3)
    assert after["counts"]["plans"] == before["counts"]["plans"] and after["ledger_ok"]
    assert [p[:2] for p in after["plans"]] == [p[:2] for p in before["plans"]]


def test_sql_meta_characters_in_the_plans_list_are_refused_or_match_nothing(
    plans3: Runtime,
) -> None:
    accounts.set_password(plans3, VIEWER, PASSWORD)
    services.access.grant_access(plans3, VIEWER, "reader")  # sees every country's plans
    before = snapshot(plans3)
    with web_client(plans3) as http:
        log_in(http, VIEWER)
        everything = http.get("/plans").text
        assert all(k in everything for k in (KEY, "KGZ-1", "SRB-1"))
        for value in META:
            by_state = http.get("/plans", params={"state": value})
            assert by_state.status_code == 400, value
            assert_escaped(by_state.text, [f"There is no state {value!r}"], value)
            by_country = http.get("/plans", params={"country": value})
            assert by_country.status_code == 400, value
            said = [
                f"{shown!r} is not an ISO 3166-1 alpha-3 country code"
                for shown in (value, value.upper())  # the page asks in capitals
            ]
            assert_escaped(by_country.text, said, value)
            # the search's LIKE wildcards ("%", "_") and escape stand for themselves
            searched = http.get("/plans", params={"q": value})
            assert searched.status_code == 200, value
            assert "No plans match this search." in searched.text, value
            assert not any(k in searched.text for k in (KEY, "KGZ-1", "SRB-1")), value
        exact = http.get("/plans", params={"country": "kgz"}).text  # the filter itself works
        assert "KGZ-1" in exact and KEY not in exact and "SRB-1" not in exact
        found = http.get("/plans", params={"q": "second"}).text  # and so does the search
        assert "KGZ-1" in found and KEY not in found and "SRB-1" not in found
    assert {**snapshot(plans3), "counts": None} == {**before, "counts": None}
