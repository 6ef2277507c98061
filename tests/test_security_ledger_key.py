"""Security: a keyed ledger refuses writers without its key (SQLite and PostgreSQL; nothing of
napflow is mocked).

A process without NAPFLOW_AUDIT_KEY, or with another key, would seal records that fail
verification for good, and an append-only history cannot be cleaned of them. The first
keyed record records the key's fingerprint with the database; from then on such a process
is refused before anything is written (CLI exit 2, HTTP 503), reads stay open to it, and
the ledger still verifies with the key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from helpers import (
    CHAIR,
    KEY,
    MEMBER,
    MINISTER,
    VIEWER,
    Result,
    queue_notices,
    review_plan,
    snapshot,
    web_client,
)
from smtp_sink import SmtpServer
from sqlalchemy import event, func, select

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import ConfigError
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.secrets import Secrets
from napflow.runtime.settings import Settings
from napflow.scheduler.daemon import _Dispatch
from napflow.services import audit
from napflow.services._ledger_key import FINGERPRINT_NAME, require_key
from napflow.services.dispatch import send_due
from napflow.storage.schema import app_secrets, history, outbox, site_history

AUDIT_KEY = "the ledger's own audit key"
OTHER_KEY = "some other key"
NOT_SET = (
    "This napflow database's ledger is sealed with an audit key, and NAPFLOW_AUDIT_KEY is "
    "not set in this process: nothing was written; set it to the ledger's key."
)
ANOTHER = NOT_SET.replace("is not set", "is another key")
#: the runtimes a keyed ledger refuses: (their key, the refusal they get)
STRANGERS = {"keyless": (None, NOT_SET), "wrong key": (OTHER_KEY, ANOTHER)}

Cli = Callable[..., Result]


def runtime(db_url: str, clock: VirtualClock, key: str | None, **settings: Any) -> Runtime:
    """A runtime on ``db_url`` whose process has audit key ``key`` (None: none)."""
    secrets = Secrets(audit_key=key.encode() if key else None)
    return build_runtime(Settings(database_url=db_url, **settings), clock=clock, secrets=secrets)


@pytest.fixture
def keyed(db_url: str, clock: VirtualClock) -> Iterator[Runtime]:
    """`napflow init` with the audit key, and plan KEY in working-group review."""
    rt = runtime(db_url, clock, AUDIT_KEY)
    services.init_database(rt)
    review_plan(rt)
    yield rt
    rt.db.dispose()


@pytest.fixture
def begun_without_key(db_url: str, clock: VirtualClock) -> Iterator[tuple[Runtime, Runtime]]:
    """`napflow init` without a key and plan KEY in review; a keyless and a keyed process."""
    plain, keyed = runtime(db_url, clock, None), runtime(db_url, clock, AUDIT_KEY)
    try:
        services.init_database(plain)
        review_plan(plain)
        yield plain, keyed
    finally:
        plain.db.dispose()
        keyed.db.dispose()


@pytest.fixture(params=list(STRANGERS))
def stranger(
    request: pytest.FixtureRequest, db_url: str, clock: VirtualClock
) -> Iterator[tuple[Runtime, str]]:
    """A runtime without the ledger's key (none, or another), and what it is told."""
    key, refusal = STRANGERS[request.param]
    rt = runtime(db_url, clock, key)
    yield rt, refusal
    rt.db.dispose()


def stored_fingerprint(rt: Runtime) -> str | None:
    with rt.db.read() as conn:
        return conn.execute(
            select(app_secrets.c.value).where(app_secrets.c.name == FINGERPRINT_NAME)
        ).scalar()


def records(rt: Runtime) -> tuple[int, int]:
    """How many plan and site ledger records there are."""
    with rt.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(history)).scalar_one(),
            conn.execute(select(func.count()).select_from(site_history)).scalar_one(),
        )


def test_the_fingerprint_is_an_hmac_of_a_label_under_the_key_never_the_key(
    keyed: Runtime,
) -> None:
    label = b"napflow ledger key fingerprint v1"
    expected = hmac.new(AUDIT_KEY.encode(), label, hashlib.sha256).hexdigest()
    assert stored_fingerprint(keyed) == f"hmac-sha256:{expected}"
    with keyed.db.read() as conn:
        stored = [row.value for row in conn.execute(select(app_secrets.c.value))]
    assert not any(AUDIT_KEY in value or AUDIT_KEY.encode().hex() in value for value in stored)


def test_a_writer_without_the_ledgers_key_is_refused_and_writes_nothing(
    keyed: Runtime, stranger: tuple[Runtime, str]
) -> None:
    other, refusal = stranger
    before = snapshot(keyed)
    changes: list[Callable[[], object]] = [
        lambda: services.advance_plan(other, KEY, "endorse", MEMBER),
        lambda: services.add_person(other, "new@example.org", "New Person"),
        lambda: services.create_plan(other, "TJK", "Another plan", key="TJK-Y"),
        lambda: services.grant_role(other, KEY, MINISTER, "wg_member"),
        lambda: services.revoke_role(other, KEY, MEMBER, "wg_member"),
        lambda: services.people.deactivate_person(other, MEMBER),
        lambda: services.access.grant_access(other, CHAIR, "admin"),
        lambda: services.add_deadline(other, KEY, "follow_up_session", "2015-10-01", at="10:00"),
    ]
    for change in changes:
        with pytest.raises(ConfigError) as refused:
            change()
        assert str(refused.value) == refusal
    assert snapshot(keyed) == before  # every table as it was, and the ledger verifies
    # reads need no key
    assert [p.key for p in services.list_plans(other)] == [KEY]
    assert services.plan_history(other, KEY)
    # the keyed runtime still writes, and the ledger still verifies with the key
    services.advance_plan(keyed, KEY, "endorse", MEMBER)
    assert audit.verify_ledger(keyed).ok


def test_a_keyless_writer_is_refused_from_the_moment_a_key_is_recorded(
    begun_without_key: tuple[Runtime, Runtime],
) -> None:
    # a ledger begun without a key takes one later ("from then on keyed"); a keyless process
    # that wrote before (and found no fingerprint then) is refused after, not left to go on
    plain, keyed = begun_without_key
    assert stored_fingerprint(plain) is None
    services.add_person(keyed, "keyed@example.org", "Keyed")  # a site record, keyed
    assert stored_fingerprint(plain) is not None
    before = records(plain)
    with pytest.raises(ConfigError, match="NAPFLOW_AUDIT_KEY is not set"):
        services.advance_plan(plain, KEY, "endorse", MEMBER)
    with pytest.raises(ConfigError, match="NAPFLOW_AUDIT_KEY is not set"):
        services.add_person(plain, "late@example.org", "Late")
    assert records(plain) == before
    assert audit.verify_ledger(keyed, allow_unkeyed=True).ok


def test_a_fingerprint_recorded_in_a_transaction_that_rolled_back_is_recorded_again(
    begun_without_key: tuple[Runtime, Runtime], clock: VirtualClock
) -> None:
    plain, keyed = begun_without_key
    with pytest.raises(RuntimeError), keyed.db.write() as conn:
        require_key(conn, AUDIT_KEY.encode(), clock.now())
        require_key(conn, AUDIT_KEY.encode(), clock.now())  # reads its own, uncommitted
        raise RuntimeError("the action failed after its record")
    assert stored_fingerprint(plain) is None
    services.advance_plan(keyed, KEY, "endorse", MEMBER)  # records it again
    assert stored_fingerprint(plain) is not None
    with pytest.raises(ConfigError, match="NAPFLOW_AUDIT_KEY is not set"):
        services.add_person(plain, "late@example.org", "Late")


def test_a_keyless_writer_is_refused_after_a_keyed_record_without_a_fingerprint(
    begun_without_key: tuple[Runtime, Runtime],
) -> None:
    # a ledger keyed before fingerprints were recorded: a keyless record after a keyed one
    # would never verify, so it is refused even so
    plain, keyed = begun_without_key
    services.advance_plan(keyed, KEY, "endorse", MEMBER)
    with keyed.db.write() as conn:  # as a database from before this check looks
        conn.execute(app_secrets.delete().where(app_secrets.c.name == FINGERPRINT_NAME))
    before = records(plain)
    with pytest.raises(ConfigError, match="NAPFLOW_AUDIT_KEY is not set"):
        services.advance_plan(plain, KEY, "send_to_experts", CHAIR)
    assert records(plain) == before
    services.add_person(plain, "late@example.org", "Late")  # the site chain is unkeyed


@pytest.mark.postgresql_only
@pytest.mark.parametrize("second_key", [AUDIT_KEY, OTHER_KEY])
def test_two_processes_recording_a_key_at_the_same_moment_keep_the_first(
    db_url: str, clock: VirtualClock, second_key: str
) -> None:
    # both found no fingerprint; the first commits its own just before the second inserts
    plain = runtime(db_url, clock, None)
    first, second = runtime(db_url, clock, AUDIT_KEY), runtime(db_url, clock, second_key)
    try:
        services.init_database(plain)
        review_plan(plain)
        meanwhile: list[str] = []

        @event.listens_for(second.db.engine, "before_cursor_execute")
        def first_records_meanwhile(*args: Any) -> None:
            if args[2].startswith("INSERT INTO app_secrets") and not meanwhile:
                meanwhile.append(services.add_person(first, "first@example.org", "First").email)

        if second_key == AUDIT_KEY:
            services.advance_plan(second, KEY, "endorse", MEMBER)  # theirs is its own
        else:
            before = records(plain)
            with pytest.raises(ConfigError) as refused:
                services.advance_plan(second, KEY, "endorse", MEMBER)
            assert str(refused.value) == ANOTHER
            assert records(plain) == (before[0], before[1] + 1)  # the first one's record
        assert meanwhile and stored_fingerprint(plain) == stored_fingerprint(first)
        assert audit.verify_ledger(first, allow_unkeyed=True).ok
    finally:
        for rt in (plain, first, second):
            rt.db.dispose()


def test_the_cli_exits_2_with_one_line_naming_the_setting(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAPFLOW_AUDIT_KEY", AUDIT_KEY)
    assert cli("init").code == 0
    assert cli("person", "add", VIEWER, "--name", "Coordinator").code == 0
    assert cli("plan", "create", "--country", "TJK", "--title", "T", "--key", KEY).code == 0
    assert cli("role", "grant", KEY, VIEWER, "coordinator").code == 0
    for key, refusal in STRANGERS.values():
        if key is None:
            monkeypatch.delenv("NAPFLOW_AUDIT_KEY")
        else:
            monkeypatch.setenv("NAPFLOW_AUDIT_KEY", key)
        for args in (
            ("advance", KEY, "submit_for_review", "--as", VIEWER),
            ("person", "add", MEMBER, "--name", "Member"),
            ("role", "grant", KEY, VIEWER, "wg_chair"),
        ):
            result = cli(*args)
            assert (result.code, result.out, result.err) == (2, "", f"napflow: {refusal}\n")
        assert cli("plan", "list").code == 0  # reads need no key
    monkeypatch.setenv("NAPFLOW_AUDIT_KEY", AUDIT_KEY)
    verified = cli("audit", "verify")
    assert verified.code == 0
    # site records: the person added, and the NAP version stored with the plan (no more)
    assert verified.out.startswith("OK: 1 plans, 2 records and 2 site records, ")


def test_the_api_answers_503_and_writes_nothing(
    keyed: Runtime, stranger: tuple[Runtime, str]
) -> None:
    other, _refusal = stranger
    token = services.accounts.create_api_token(other, MEMBER)  # not sealed: allowed
    before = snapshot(keyed)
    with web_client(other) as http:
        auth = {"Authorization": f"Bearer {token}"}
        listed = http.get("/api/v1/plans", headers=auth)
        assert listed.status_code == 200 and KEY in listed.text
        refused = http.post(
            f"/api/v1/plans/{KEY}/advance", json={"trigger": "endorse"}, headers=auth
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert snapshot(keyed) == before


def mail_runtime_with(db_url: str, clock: VirtualClock, smtp: SmtpServer, key: str | None) -> Any:
    return runtime(
        db_url,
        clock,
        key,
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_timeout_s=5,
        mail_from="napflow@napflow.example",
    )


def test_a_scheduler_without_the_key_sends_nothing_and_leaves_the_queue(
    db_url: str,
    clock: VirtualClock,
    smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    keyed = mail_runtime_with(db_url, clock, smtp, AUDIT_KEY)
    request.addfinalizer(keyed.db.dispose)
    services.init_database(keyed)
    queue_notices(keyed, 2)

    def queue() -> list[tuple[str, int]]:
        with keyed.db.read() as conn:
            return [(r.status, r.attempts) for r in conn.execute(select(outbox).order_by("id"))]

    queued, before = queue(), records(keyed)
    due = sum(status == "pending" for status, _ in queued)
    assert due == 2
    for key, refusal in STRANGERS.values():
        other = mail_runtime_with(db_url, clock, smtp, key)
        request.addfinalizer(other.db.dispose)
        with pytest.raises(ConfigError) as refused:
            send_due(other)
        assert str(refused.value) == refusal
        # the daemon says so in one line, and stays up for the next poll
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="napflow.scheduler"):
            scheduler = BackgroundScheduler()
            _Dispatch(scheduler, other, 60).tick()
        assert [r.getMessage() for r in caplog.records] == [
            f"dispatch pass refused: {refusal} Trying again at the next poll."
        ]
        assert all(r.exc_info is None for r in caplog.records)
        assert smtp.sink.messages == []
        assert queue() == queued and records(keyed) == before
    sent = send_due(keyed)
    assert sent.sent == due and len(smtp.sink.messages) == due
    assert audit.verify_ledger(keyed).ok
