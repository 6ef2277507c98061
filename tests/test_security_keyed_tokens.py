"""Security: a row written into the database by hand opens no session and no API call.

The database keeps only an HMAC-SHA256 of each session and API token, under a server key
that is not in the database (``NAPFLOW_SECRET_KEY``, else a key file). Someone with the
app's database login can insert rows into ``api_tokens`` and ``web_sessions``, but cannot
make the digest of a token of their own: the auditor's attack (a row holding the plain
SHA-256 of a chosen token) is refused, in-process and by a served napflow. Real database,
real server processes; nothing is mocked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import multiprocessing
import os
import secrets
import stat
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from helpers import KEY, MINISTER, PASSWORD, csrf_of, log_in, race_worker, serving, snapshot
from helpers import web_client as client_of
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from napflow.errors import NotAuthenticatedError
from napflow.runtime import Runtime
from napflow.services import accounts, feeds
from napflow.storage.schema import api_tokens, app_secrets, people, web_sessions

#: how the token key is made from the server key (napflow.services.accounts)
PURPOSE = b"napflow: digests of session and API tokens"


@pytest.fixture
def keyless(cast: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The security cast, in a process without NAPFLOW_SECRET_KEY: the key file is used."""
    monkeypatch.delenv("NAPFLOW_SECRET_KEY", raising=False)
    return dataclasses.replace(cast, secrets=dataclasses.replace(cast.secrets, secret_key=None))


def person_id(rt: Runtime, email: str) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(people.c.id).where(people.c.email == email)).scalar_one())


def forgeries(rt: Runtime, token: str) -> dict[str, str]:
    """Digests of ``token`` an attacker who can read and write the database could make."""
    feeds.plan_feed_url(rt, KEY)  # the calendar feeds' key, which *is* in the database
    with rt.db.read() as conn:
        feed_key = conn.execute(
            select(app_secrets.c.value).where(app_secrets.c.name == "calendar-feeds")
        ).scalar_one()
    feed_key = feed_key.encode()
    derived = hmac.digest(feed_key, PURPOSE, hashlib.sha256)
    return {
        "plain SHA-256": hashlib.sha256(token.encode()).hexdigest(),
        "HMAC under a wrong key": hmac.new(b"not the key", token.encode(), "sha256").hexdigest(),
        "HMAC under the feed key": hmac.new(feed_key, token.encode(), "sha256").hexdigest(),
        "HMAC as napflow derives it, from the feed key": hmac.new(
            derived, token.encode(), "sha256"
        ).hexdigest(),
    }


def plant_api_token(rt: Runtime, email: str, digest: str, label: str) -> None:
    """Insert an API token row as the attacker would, straight into the database."""
    person = person_id(rt, email)
    with rt.db.write() as conn:
        conn.execute(
            insert(api_tokens).values(
                person_id=person,
                token_hash=digest,
                label=label,
                created_at=rt.clock.now(),
            )
        )


def last_uses(rt: Runtime) -> dict[str, Any]:
    with rt.db.read() as conn:
        return dict(conn.execute(select(api_tokens.c.label, api_tokens.c.last_used_at)).all())


def test_an_api_token_row_made_in_the_database_authenticates_nobody(keyless: Runtime) -> None:
    token = f"napflow_{secrets.token_urlsafe(32)}"
    forged = forgeries(keyless, token)
    for n, digest in enumerate(forged.values()):
        plant_api_token(keyless, MINISTER, digest, f"forged {n}")
    before = snapshot(keyless)
    auth = {"Authorization": f"Bearer {token}"}
    with client_of(keyless) as http:
        me = http.get("/api/v1/me", headers=auth)
        assert me.status_code == 401, me.text
        assert me.headers["content-type"].startswith("application/problem+json")
        assert http.get(f"/api/v1/plans/{KEY}", headers=auth).status_code == 401
        # not even a real token of the approver's can be had with it
        made = http.post("/api/v1/me/tokens", headers=auth, json={"label": "mine now"})
        assert made.status_code == 401, made.text
        advanced = http.post(
            f"/api/v1/plans/{KEY}/advance", headers=auth, json={"trigger": "request_changes"}
        )
        assert advanced.status_code == 401
    assert snapshot(keyless) == before  # nothing written
    assert set(last_uses(keyless).values()) == {None}  # not even a "last used"
    assert accounts.list_api_tokens(keyless, MINISTER)  # the rows are there, opening nothing

    real = accounts.create_api_token(keyless, MINISTER, "real")
    with client_of(keyless) as http:
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {real}"})
    assert me.status_code == 200 and me.json()["email"] == MINISTER


def test_a_session_row_made_in_the_database_opens_no_session(keyless: Runtime) -> None:
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now, minister = keyless.clock.now(), person_id(keyless, MINISTER)
    forged = forgeries(keyless, cookie)
    with keyless.db.write() as conn:
        for digest in forged.values():
            conn.execute(
                insert(web_sessions).values(
                    token_hash=digest,
                    person_id=minister,
                    csrf=csrf,
                    created_at=now,
                    expires_at=now.replace(year=now.year + 1),
                )
            )
    before = snapshot(keyless)
    assert accounts.session_for(keyless, cookie) is None
    with client_of(keyless) as http:
        http.cookies.set("napflow_session", cookie)
        page = http.get(f"/plans/{KEY}")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        form = {"csrf": csrf, "trigger": "request_changes", "comment": "Revise."}
        acted = http.post(f"/plans/{KEY}/advance", data=form)  # sent to log in first
        assert acted.status_code == 303 and acted.headers["location"].startswith("/login")
    assert snapshot(keyless) == before  # nothing written

    accounts.set_password(keyless, MINISTER, PASSWORD)  # a real login still works
    with client_of(keyless) as http:
        log_in(http, MINISTER)
        assert http.get(f"/plans/{KEY}").status_code == 200
        assert csrf_of(http) != csrf


def key_file(rt: Runtime, state_home: Path) -> Path:
    """Where the docs say the key file of ``rt``'s database is, without NAPFLOW_SECRET_KEY."""
    url = make_url(rt.db.url)
    if url.get_backend_name() == "sqlite":
        return Path(f"{url.database}.key")
    bare = url.set(password=None).render_as_string(hide_password=False)
    return state_home / "napflow" / f"{hashlib.sha256(bare.encode()).hexdigest()[:16]}.key"


def get(url: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def server_env(db_url: str, secret_key: str | None) -> dict[str, str]:
    env = {**os.environ, "NAPFLOW_DATABASE_URL": db_url}
    for var in ("NAPFLOW_CONFIG", "NAPFLOW_WORKFLOW_DIRS", "NAPFLOW_SECRET_KEY"):
        env.pop(var, None)
    if secret_key is not None:
        env["NAPFLOW_SECRET_KEY"] = secret_key
    return env


@pytest.mark.slow
def test_a_served_napflow_finds_the_key_the_test_process_made_and_refuses_forgeries(
    keyless: Runtime, db_url: str, tmp_path: Path, state_home: Path
) -> None:
    forged = f"napflow_{secrets.token_urlsafe(32)}"
    for n, digest in enumerate(forgeries(keyless, forged).values()):
        plant_api_token(keyless, MINISTER, digest, f"forged {n}")
    token = accounts.create_api_token(keyless, MINISTER)  # makes the key file, here
    path = key_file(keyless, state_home)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    elsewhere = tmp_path / "elsewhere"  # the server runs in another directory
    elsewhere.mkdir()
    with serving(cwd=elsewhere, env=server_env(db_url, None)) as (url, _process, log):
        status, me = get(f"{url}/api/v1/me", token)
        assert status == 200 and me["email"] == MINISTER, log.read_text()
        status, problem = get(f"{url}/api/v1/me", forged)
        assert status == 401 and "API token" in problem["detail"]
    assert path.read_bytes() == key  # found, not made again

    # NAPFLOW_SECRET_KEY, when set, is the key: the same in the test process and the
    # server; tokens made under the key file no longer open anything (and vice versa)
    server_key = secrets.token_hex(32)
    keyed = dataclasses.replace(
        keyless, secrets=dataclasses.replace(keyless.secrets, secret_key=server_key.encode())
    )
    under_env = accounts.create_api_token(keyed, MINISTER)
    with serving(cwd=elsewhere, env=server_env(db_url, server_key)) as (url, _process, log):
        assert get(f"{url}/api/v1/me", under_env)[0] == 200, log.read_text()
        assert get(f"{url}/api/v1/me", token)[0] == 401
        assert get(f"{url}/api/v1/me", forged)[0] == 401


def token_race(db_url: str, count: int) -> list[tuple[int, str, str]]:
    """`napflow token create` in ``count`` processes at once, on a database with no key yet."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(count), ctx.Queue()
    argv = ["--db", db_url, "token", "create", MINISTER]
    procs = [ctx.Process(target=race_worker, args=(argv, barrier, results)) for _ in range(count)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return outcomes


@pytest.mark.slow
def test_processes_making_the_key_file_at_once_agree_on_one_key(
    keyless: Runtime, db_url: str, state_home: Path
) -> None:
    path = key_file(keyless, state_home)
    assert not path.exists()
    outcomes = token_race(db_url, 4)
    assert [code for code, _out, _err in outcomes] == [0] * 4, outcomes
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".new")]
    assert path.exists() and leftovers == []
    with client_of(keyless) as http:  # every process's token works here
        for _code, out, _err in outcomes:
            me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {out.strip()}"})
            assert me.status_code == 200 and me.json()["email"] == MINISTER


@pytest.mark.sqlite_only
def test_an_unusable_key_file_is_the_servers_problem_never_a_key_made_up(
    keyless: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    token = accounts.create_api_token(keyless, MINISTER)
    path = key_file(keyless, Path())
    key = path.read_bytes()
    accounts.set_password(keyless, MINISTER, PASSWORD)
    with client_of(keyless) as http:
        log_in(http, MINISTER)
    cookie = http.cookies["napflow_session"]
    path.unlink()
    for damage in ("cut short", "not a file", "readable by others"):
        if damage == "cut short":
            path.write_bytes(b"0123\n")  # a disk full, a bad copy
            path.chmod(0o600)
        elif damage == "not a file":
            path.mkdir()
        else:
            path.write_bytes(key)  # restored from a backup as anyone may read it
            path.chmod(0o644)
        broken = dataclasses.replace(keyless, db=type(keyless.db)(keyless.db.url))  # a new process
        with client_of(broken) as http:
            api = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            http.cookies.set("napflow_session", cookie)
            page = http.get(f"/plans/{KEY}")
        broken.db.dispose()
        assert (api.status_code, page.status_code) == (503, 503), damage
        assert str(path) not in api.text + page.text  # the details are for the log
        assert f"server key file {path}" in caplog.text
        caplog.clear()
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
    path.write_bytes(key)
    path.chmod(0o600)
    with client_of(keyless) as http:  # the key back in place: the token works again
        assert http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).is_success


def test_the_key_files_text_as_napflow_secret_key_keeps_tokens_and_sessions(
    keyless: Runtime, state_home: Path
) -> None:
    token = accounts.create_api_token(keyless, MINISTER)
    accounts.set_password(keyless, MINISTER, PASSWORD)
    session = accounts.log_in(keyless, MINISTER, PASSWORD)
    text = key_file(keyless, state_home).read_text().strip()  # NAPFLOW_SECRET_KEY=$(cat FILE)
    moved = dataclasses.replace(
        keyless, secrets=dataclasses.replace(keyless.secrets, secret_key=text.encode())
    )
    assert accounts.token_owner(moved, token) == MINISTER
    assert accounts.session_for(moved, session.token) is not None
    other = dataclasses.replace(
        keyless, secrets=dataclasses.replace(keyless.secrets, secret_key=b"another key")
    )
    with pytest.raises(NotAuthenticatedError):
        accounts.token_owner(other, token)
    assert accounts.session_for(other, session.token) is None
