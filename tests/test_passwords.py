"""Passwords: easy ones are refused wherever a password is set; old hashes are upgraded.

A password needs 12 to 1024 characters, not all spaces, and a zxcvbn score of at least 3
(the person's name and address, and the word napflow, count against it). The command line
(exit 2) and the administration page (400, the form again) say why in one line, and never
repeat the password. The JSON API sets no passwords. The demo's published password is set
only by the demo. A hash made with weaker argon2 parameters than today's is made again at
the next login. Real database (SQLite and PostgreSQL); nothing is mocked.
"""

from __future__ import annotations

import html
import io

import pytest
from argon2 import PasswordHasher, extract_parameters
from helpers import MINISTER, PASSWORD, Cli, csrf_of, log_in, web_client
from sqlalchemy import delete, insert, select

from napflow import services
from napflow.errors import InputError
from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.services.demo import DEMO_PASSWORD
from napflow.storage.schema import accounts as account_rows
from napflow.storage.schema import people

ADMIN = "admin@example.org"
#: a password every path accepts (four uncommon words)
GOOD = "tulip quarry nimbus ferret"
#: easy passwords, and what the refusal says of each
EASY = {
    " " * 10: "A password must have 12 to 1024 characters; this one has 10.",
    " " * 12: "A password cannot be only spaces",
    "password1234": "too easy to guess (This is a very common password)",
    "minister@example.org": "mostly the person's name or e-mail address",
    "Minister of Foreign Affairs": "mostly the person's name or e-mail address",
    "a" * 80: 'too easy to guess (Repeats like "aaa" are easy to guess)',
    DEMO_PASSWORD: "too easy to guess",
    "x" * 1025: "this one has 1025",
}
WHAT_IS_ACCEPTED = "12 to 1024 characters"


def stored_hash(rt: Runtime, email: str) -> str | None:
    with rt.db.read() as conn:
        found = conn.execute(
            select(account_rows.c.password_hash)
            .join(people, people.c.id == account_rows.c.person_id)
            .where(people.c.email == email)
        ).scalar()
    return None if found is None else str(found)


@pytest.mark.parametrize("password", list(EASY), ids=[f"easy{n}" for n in range(len(EASY))])
def test_the_command_line_refuses_an_easy_password_in_one_line(
    cast: Runtime, cli: Cli, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    accounts.set_password(cast, MINISTER, GOOD)
    before = stored_hash(cast, MINISTER)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{password}\n"))
    refused = cli("user", "set-password", MINISTER, "--password-stdin")
    assert refused.code == 2 and refused.out == ""
    (line,) = refused.err.strip().splitlines()
    assert EASY[password] in line and WHAT_IS_ACCEPTED in line, line
    assert password.strip() == "" or password not in line  # never repeated
    assert stored_hash(cast, MINISTER) == before  # the old password stands
    assert accounts.log_in(cast, MINISTER, GOOD).email == MINISTER


def test_a_hard_password_is_accepted_and_works(
    cast: Runtime, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{GOOD}\n"))
    done = cli("user", "set-password", MINISTER, "--password-stdin")
    assert done.code == 0, done.err
    assert accounts.log_in(cast, MINISTER, GOOD).email == MINISTER
    long = "a" * 72 + GOOD  # judged past its first 72 characters too
    accounts.set_password(cast, MINISTER, long)
    assert accounts.log_in(cast, MINISTER, long).email == MINISTER


def test_the_administration_page_refuses_an_easy_password_with_the_reason(
    cast: Runtime,
) -> None:
    services.add_person(cast, ADMIN, "Site Administrator")
    services.access.grant_access(cast, ADMIN, "admin")
    accounts.set_password(cast, ADMIN, PASSWORD)
    accounts.set_password(cast, MINISTER, GOOD)
    with web_client(cast) as admin:
        log_in(admin, ADMIN)
        csrf = csrf_of(admin)
        page = f"/admin/people/{MINISTER}/password"
        for password in ("password1234", " " * 12, "a" * 80):
            form = {"csrf": csrf, "password": password, "confirm": password}
            refused = admin.post(page, data=form)
            assert refused.status_code == 400
            shown = html.unescape(refused.text)
            assert EASY[password] in shown and WHAT_IS_ACCEPTED in shown
            assert password.strip() == "" or password not in shown
        assert accounts.log_in(cast, MINISTER, GOOD).email == MINISTER  # unchanged
        new = "saffron kettle orbit lantern"
        done = admin.post(page, data={"csrf": csrf, "password": new, "confirm": new})
        assert done.status_code == 303
    assert accounts.log_in(cast, MINISTER, new).email == MINISTER


def test_the_service_refuses_the_demo_password_which_only_the_demo_sets(cast: Runtime) -> None:
    with pytest.raises(InputError, match="too easy to guess"):
        accounts.set_password(cast, MINISTER, DEMO_PASSWORD)
    assert stored_hash(cast, MINISTER) is None
    accounts.set_demo_passwords(cast, [MINISTER], DEMO_PASSWORD)  # napflow init --demo
    assert accounts.log_in(cast, MINISTER, DEMO_PASSWORD).email == MINISTER


def test_the_json_api_has_no_way_to_set_a_password(cast: Runtime) -> None:
    with web_client(cast) as http:
        schema = http.get("/api/v1/openapi.json").text.lower()
    assert "password" not in schema


def weak_hash_for(rt: Runtime, email: str, password: str) -> str:
    """Store a hash of ``password`` made with far weaker parameters than napflow's own."""
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(password)
    with rt.db.write() as conn:
        person = conn.execute(select(people.c.id).where(people.c.email == email)).scalar_one()
        conn.execute(delete(account_rows).where(account_rows.c.person_id == person))
        conn.execute(
            insert(account_rows).values(
                person_id=person, password_hash=weak, updated_at=rt.clock.now()
            )
        )
    return weak


def test_a_hash_with_weaker_parameters_is_made_again_at_login(cast: Runtime) -> None:
    weak = weak_hash_for(cast, MINISTER, PASSWORD)
    current = extract_parameters(PasswordHasher().hash("anything"))
    assert extract_parameters(weak) != current
    with web_client(cast) as http:
        wrong = {"email": MINISTER, "password": "not the password", "next": "/"}
        login_csrf = http.get("/login").text.split('name="login_csrf" value="')[1].split('"')[0]
        assert http.post("/login", data={**wrong, "login_csrf": login_csrf}).status_code == 401
        assert stored_hash(cast, MINISTER) == weak  # a failed login changes nothing
        log_in(http, MINISTER)  # the login itself goes through
        assert http.get("/").status_code == 200
    upgraded = stored_hash(cast, MINISTER)
    assert upgraded is not None and upgraded != weak
    assert extract_parameters(upgraded) == current
    assert ",t=1," not in upgraded and "m=8192" not in upgraded
    assert accounts.log_in(cast, MINISTER, PASSWORD).email == MINISTER  # same password
    assert stored_hash(cast, MINISTER) == upgraded  # made once, not at every login
