"""Security: timing-safe secret checks, on a real database (SQLite and PostgreSQL;
nothing of napflow is mocked).

Secret comparisons (form and login CSRF tokens, calendar feed tokens) go through
hmac.compare_digest; session and API tokens are looked up by their HMAC-SHA256 under the
server key: the plaintext is never stored nor even sent to the database.
"""

from __future__ import annotations

import hmac
from typing import Any

import pytest
from helpers import (
    KEY,
    PASSWORD,
    VIEWER,
    csrf_of,
    log_in,
    login_form_token,
    web_client,
)
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from napflow.runtime import Runtime
from napflow.services import accounts
from napflow.storage.schema import api_tokens, metadata, web_sessions


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every call of hmac.compare_digest from now on, as (expected, given) bytes."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((bytes(a), bytes(b)) if isinstance(a, bytes) else (a.encode(), b.encode()))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls


def test_form_login_and_feed_tokens_are_compared_in_constant_time(
    cast: Runtime, compared: list[tuple[bytes, bytes]]
) -> None:
    from napflow.services import feeds

    accounts.set_password(cast, VIEWER, PASSWORD)
    with web_client(cast) as http:
        # the login form's token against its cookie: a forged one, then the right one
        login_form_token(http)
        cookie = http.cookies["napflow_login"]
        data = {"email": VIEWER, "password": PASSWORD, "next": "/"}
        assert http.post("/login", data={**data, "login_csrf": "forged"}).status_code == 403
        assert (cookie.encode(), b"forged") in compared
        token = login_form_token(http)
        assert http.post("/login", data={**data, "login_csrf": token}).status_code == 303
        assert (token.encode(), token.encode()) in compared
        # a form's token against the session's: wrong (short, long, same length), then right
        csrf = csrf_of(http)
        for wrong in ("x", csrf + "x", csrf[:-1] + ("A" if csrf[-1] != "A" else "B")):
            form = {"csrf": wrong, "trigger": "request_changes", "comment": "Revise."}
            form["confirmed"] = "yes"  # a return is confirmed first: refused for the token
            assert http.post(f"/plans/{KEY}/advance", data=form).status_code == 403
            assert (csrf.encode(), wrong.encode()) in compared, wrong
        form = {"csrf": csrf, "trigger": "request_changes", "comment": "Revise."}
        assert http.post(f"/plans/{KEY}/advance", data=form).status_code == 200  # confirm?
        assert (csrf.encode(), csrf.encode()) in compared
        compared.clear()
        form["confirmed"] = "yes"
        assert http.post(f"/plans/{KEY}/advance", data=form).status_code == 303
        assert (csrf.encode(), csrf.encode()) in compared
        assert http.post("/logout", data={"csrf": "wrong"}).status_code == 403
        assert (csrf.encode(), b"wrong") in compared
        # calendar feed tokens, plan and person
        plan_url = feeds.plan_feed_url(cast, KEY)
        person_url = feeds.person_feed_url(cast, VIEWER)
        plan_token = plan_url.rsplit("token=", 1)[1]
        person_token = person_url.rsplit("-", 1)[1].removesuffix(".ics")
        http.cookies.clear()
        for url, right in ((plan_url, plan_token), (person_url, person_token)):
            assert http.get(url).status_code == 200
            assert (right.encode(), right.encode()) in compared
            for wrong in ("0", right[:-1] + ("0" if right[-1] != "0" else "1")):
                assert http.get(url.replace(right, wrong)).status_code == 404
                assert (right.encode(), wrong.encode()) in compared, (url, wrong)


def test_session_and_api_tokens_are_kept_and_looked_up_only_as_keyed_digests(
    cast: Runtime,
) -> None:
    """The cookie and the API token never reach the database, not even as a query
    parameter of any statement sent through SQLAlchemy (all of accounts.py's): only their
    HMAC-SHA256 under the server key does (an indexed lookup of a digest: nothing about the
    token to time).
    Passwords are argon2id hashes. (A session's form token is stored as it is: it opens
    nothing without the session cookie.)"""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append(f"{statement} {parameters!r}")

    event.listen(Engine, "before_cursor_execute", record)  # every engine napflow made
    try:
        accounts.set_password(cast, VIEWER, PASSWORD)
        api_token = accounts.create_api_token(cast, VIEWER, "nightly")
        with web_client(cast) as http:
            log_in(http, VIEWER)
            cookie = http.cookies["napflow_session"]
            assert http.get(f"/plans/{KEY}").status_code == 200
            auth = {"Authorization": f"Bearer {api_token}"}
            assert http.get(f"/api/v1/plans/{KEY}", headers=auth).status_code == 200
            forged = {"Authorization": f"Bearer {api_token[:-1]}x"}
            assert http.get(f"/api/v1/plans/{KEY}", headers=forged).status_code == 401
            with cast.db.read() as conn:  # every value of every row, as text
                stored = " ".join(
                    repr(tuple(row))
                    for table in metadata.sorted_tables
                    for row in conn.execute(select(table))
                )
                sessions = conn.execute(select(web_sessions.c.token_hash)).scalars().all()
                tokens = conn.execute(select(api_tokens.c.token_hash)).scalars().all()
            assert http.post("/logout", data={"csrf": csrf_of(http)}).status_code == 303
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    digest = {s: accounts.token_digest(cast, s) for s in (cookie, api_token)}
    assert sessions == [digest[cookie]] and tokens == [digest[api_token]]
    for secret in (cookie, api_token, PASSWORD):
        assert secret not in stored
        assert not any(secret in query for query in sent), "a plaintext secret went to the DB"
    assert any(digest[cookie] in query for query in sent)
    assert any(digest[api_token] in query for query in sent)
    assert "$argon2id$" in stored
