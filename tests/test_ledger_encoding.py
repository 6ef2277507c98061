"""The ledger's two encodings: a NULL is never any text, old records keep verifying, and a
record's encoding cannot be relabelled; no view fails on what an attacker stored.

Encoding 1 (fields joined by U+001F, NULL as U+0000) could not tell a NULL from the
character U+0000: replacing a NULL field of a sealed record with it passed `audit verify`,
key or no key, and the plan page, the API's history and `history --format json` failed on
it. New records are sealed with encoding 2 (a JSON array); records sealed with 1 verify
under 1, which now refuses what it cannot pin down. The attacker here writes to the
database directly, the append-only triggers dropped, as in tests/test_audit.py.
PostgreSQL refuses U+0000 in text, so the U+0000 edits are SQLite's; a payload that is
not JSON stands for them on both engines where the views are concerned.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import helpers
import psycopg
import pytest
from helpers import Result, log_in, web_client
from hypothesis import given, settings
from hypothesis import strategies as st
from unit.test_chain import FIRST as FIRST_RECORD

from napflow import services
from napflow.clock import VirtualClock
from napflow.ledger import chain
from napflow.ledger.record import FIELDS
from napflow.ledger.verification import scan_sqlite
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import accounts, audit
from napflow.services._site_ledger import site_record

Cli = Callable[..., Result]
AUDIT_KEY = "correct horse battery staple"
PLAN = "TJK-2015"
COORDINATOR = "f.rahimov@cbrn.tj.example"  # the demo's coordinator of TJK-2015
DEMO_PASSWORD = "napflow-demo"
CHANGED = "its content no longer matches its digest"


# --- the encodings themselves ---------------------------------------------------------------

#: a plan's first record as napflow writes it, its time as stored text
FIRST: dict[str, Any] = {**FIRST_RECORD, "at": chain.at_text(FIRST_RECORD["at"])}
#: FIRST in encoding 2, by hand: a JSON array, no spaces, the payload a string
FIRST_V2 = (
    b'[1,"created",null,null,"drafting","coord@example.org",null,null,'
    b'"2015-07-01 04:00:00.000000","nap",1,"{\\"country\\":\\"TJK\\"}","plan:TJK-1"]'
)


def _values(record: dict[str, Any]) -> list[Any]:
    return [record[name] for name in FIELDS]


def test_new_records_are_sealed_with_encoding_2_and_say_so() -> None:
    assert chain.canonical_v2(_values(FIRST)) == FIRST_V2
    sealed = {**FIRST, "at": datetime.fromisoformat("2015-07-01T04:00:00+00:00")}
    plain, keyed = chain.seal(sealed, None), chain.seal(sealed, AUDIT_KEY.encode())
    assert plain == chain.digest(FIRST_V2, None, chain.V2)
    assert plain.startswith("sha256/2:") and keyed.startswith("hmac-sha256/2:")
    assert (chain.algorithm(plain), chain.algorithm(keyed)) == (chain.SHA256, chain.HMAC)
    assert chain.encoding_of(plain) == chain.encoding_of(keyed) == chain.V2
    # the labels napflow has always written name encoding 1; others name none
    assert chain.encoding_of("sha256:ab") == chain.encoding_of("hmac-sha256:ab") == chain.V1
    assert chain.encoding_of("sha256/3:ab") is None and chain.encoding_of("md5:ab") is None
    # a whole number given as text is sealed as the database gives it back: a number
    assert chain.seal({**sealed, "seq": "1"}, None) == plain


def test_a_null_and_the_character_u0000_encode_apart_in_encoding_2_only() -> None:
    nul = {**FIRST, "comment": "\x00"}
    assert chain.canonical(_values(nul)) == chain.canonical(_values(FIRST))  # the old flaw
    assert chain.canonical_v2(_values(nul)) != chain.canonical_v2(_values(FIRST))
    # encoding 1 refuses to vouch for either side of what it confuses
    assert chain.ambiguous_v1(_values(nul)) == ["comment"]
    assert chain.ambiguous_v1(_values({**FIRST, "kind": None})) == ["kind"]
    assert chain.ambiguous_v1(_values(FIRST)) == []
    assert chain.encode(_values(nul), chain.V1) is None
    assert chain.encode(_values(FIRST), chain.V1) == chain.canonical(_values(FIRST))


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_FIELD = st.one_of(st.none(), st.integers(min_value=0, max_value=10**6), _TEXT)
_RECORD = st.lists(_FIELD, min_size=len(FIELDS), max_size=len(FIELDS))


@settings(max_examples=300, deadline=None)
@given(_RECORD, _RECORD)
def test_encoding_2_is_injective(one: list[Any], other: list[Any]) -> None:
    # it can be undone, so two records with the same bytes are one record
    assert json.loads(chain.canonical_v2(one)) == one
    if one != other:
        assert chain.canonical_v2(one) != chain.canonical_v2(other)


@settings(max_examples=300, deadline=None)
@given(_RECORD, _RECORD)
def test_no_bytes_are_both_encodings(v2: list[Any], v1: list[Any]) -> None:
    # encoding 2 has no U+001F byte; encoding 1 of 13 fields has at least 12
    assert b"\x1f" not in chain.canonical_v2(v2)
    assert chain.canonical(v1).count(b"\x1f") >= len(FIELDS) - 1


@settings(max_examples=300, deadline=None)
@given(_RECORD)
def test_sqlite_writes_encoding_2_as_python_does(values: list[Any]) -> None:
    # the quick scan has SQLite put the bytes together (json_array) from the stored columns
    conn = sqlite3.connect(":memory:")
    conn.text_factory = bytes
    marks = ", ".join("?" * len(values))
    try:
        written = conn.execute(f"SELECT json_array({marks})", values).fetchone()[0]
    finally:
        conn.close()
    assert written == chain.canonical_v2(values)


# --- an attacker at the database ---------------------------------------------------------


#: the append-only triggers that refuse UPDATE, by engine
_TRIGGERS = {
    "sqlite": ["history_append_only_update", "site_history_append_only_update"],
    "postgresql": ["history_append_only ON history", "site_history_append_only ON site_history"],
}
#: the records of one plan (its key the parameter), or of the site ledger
_OF = {
    "history": "plan_id = (SELECT id FROM plans WHERE key = ?)",
    "site_history": "CAST(? AS TEXT) IS NOT NULL",
}


class Attacker(helpers.Attacker):
    """Someone at the database itself, the append-only triggers dropped; ``?`` placeholders."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt, _TRIGGERS)

    def first_null(self, field: str, table: str = "history") -> int:
        """Return the seq of PLAN's (or the site ledger's) first record without ``field``.

        The first after seq 1, so that the plan's first record stays as it was.
        """
        row = self.execute(
            f"SELECT min(seq) FROM {table} WHERE {_OF[table]} AND {field} IS NULL AND seq > 1",
            (PLAN,),
        ).fetchone()
        assert row[0] is not None, f"no {table} record without {field}"
        return int(row[0])

    def set_field(self, seq: int, field: str, value: Any, table: str = "history") -> None:
        """Set ``field`` of PLAN's (or the site ledger's) record ``seq`` to ``value``."""
        self.execute(
            f"UPDATE {table} SET {field} = ? WHERE {_OF[table]} AND seq = ?", (value, PLAN, seq)
        )

    def reseal(self, key: bytes | None, share: float = 1.0) -> None:
        """Seal every chain anew as napflow would have, upgraded part of the way.

        The older ``share`` of the records (by id, in the plans' history and in the site
        ledger) as a napflow from before encoding 2 wrote them, the newer ones as napflow
        writes them now; the plans' heads follow.
        """
        plans = self.execute("SELECT id, key FROM plans").fetchall()
        columns = ", ".join(f'"{name}"' for name in FIELDS)
        for plan_id, plan_key in plans:
            rows = self.execute(
                f"SELECT id, {columns} FROM history WHERE plan_id = ? ORDER BY seq", (plan_id,)
            ).fetchall()
            records = [(row[0], dict(zip(FIELDS, row[1:], strict=True))) for row in rows]
            head = self._reseal("history", records, chain.genesis(plan_key), key, share)
            self.execute("UPDATE plans SET head_hash = ? WHERE id = ?", (head, plan_id))
        rows = self.execute(
            "SELECT id, seq, kind, actor, comment, at, payload FROM site_history ORDER BY seq"
        ).fetchall()
        site = [
            (
                row[0],
                site_record(
                    dict(
                        zip(
                            ("seq", "kind", "actor", "comment", "at", "payload"),
                            row[1:],
                            strict=True,
                        )
                    )
                    | {"prev_hash": ""}
                ),
            )
            for row in rows
        ]
        self._reseal("site_history", site, chain.SITE_GENESIS, key, share)

    def _reseal(
        self,
        table: str,
        records: list[tuple[int, dict[str, Any]]],
        prev: str,
        key: bytes | None,
        share: float,
    ) -> str:
        """Seal one chain's records (row id, sealed fields) anew; return its last digest."""
        low, high = self.execute(f"SELECT min(id), max(id) FROM {table}").fetchone()
        upgraded = low + share * (high - low + 1)  # the first id sealed with encoding 2
        for row_id, record in records:
            values = [record[name] for name in FIELDS]
            values[FIELDS.index("at")] = _at(record["at"])
            values[FIELDS.index("prev_hash")] = prev
            encoding = chain.V1 if row_id < upgraded else chain.V2
            data = chain.encode(values, encoding)
            assert data is not None
            digest = chain.digest(data, key, encoding)
            self.execute(
                f"UPDATE {table} SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row_id)
            )
            prev = digest
        return prev

    def close(self) -> None:
        self.conn.close()


def _at(value: Any) -> str:
    return chain.at_text(value) if isinstance(value, datetime) else str(value)


@pytest.fixture
def attacker(demo: Runtime) -> Iterator[Attacker]:
    found = Attacker(demo)
    yield found
    found.close()


@pytest.fixture
def keyed(db_url: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The demo, sealed with an audit key (NAPFLOW_AUDIT_KEY set for the whole test)."""
    monkeypatch.setenv("NAPFLOW_AUDIT_KEY", AUDIT_KEY)
    runtime = build_runtime(Settings(database_url=db_url), clock=clock)
    services.init_database(runtime)
    services.load_demo(runtime)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def keyed_attacker(keyed: Runtime) -> Iterator[Attacker]:
    found = Attacker(keyed)
    yield found
    found.close()


def problems(rt: Runtime, cli: Cli) -> list[str]:
    """Verify through the CLI (the quick scan on SQLite) and record by record: the same."""
    result = cli("audit", "verify")
    lines = result.out.strip().splitlines()
    generic = audit._verify_generic(rt, rt.secrets.audit_key, None, False)
    site = audit._with_site_ledger(rt, generic, rt.secrets.audit_key, False)
    assert [str(p) for p in site.problems] == lines[:-1], result.out
    assert result.code == (1 if lines[:-1] else 0), result.out + result.err
    assert lines[-1].startswith("FAILED:" if lines[:-1] else "OK:")
    return lines[:-1]


# --- (a) the attack: a NULL field replaced with U+0000 ----------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize("field", ["trigger", "actor", "role", "comment", "payload"])
def test_a_null_replaced_with_u0000_is_an_edit(
    demo: Runtime, attacker: Attacker, cli: Cli, field: str
) -> None:
    head = cli("audit", "head").out.strip()
    seq = attacker.first_null(field)
    attacker.set_field(seq, field, "\x00")
    assert problems(demo, cli) == [f"{PLAN} seq {seq}: edited: {CHANGED}"]
    assert cli("audit", "verify", "--head", head).code == 1
    assert cli("audit", "verify", PLAN).code == 1


@pytest.mark.sqlite_only
def test_a_null_replaced_with_u0000_is_an_edit_with_the_key_too(
    keyed: Runtime, keyed_attacker: Attacker, cli: Cli
) -> None:
    seq = keyed_attacker.first_null("comment")
    keyed_attacker.set_field(seq, "comment", "\x00")
    assert problems(keyed, cli) == [f"{PLAN} seq {seq}: edited: {CHANGED}"]


@pytest.mark.sqlite_only
def test_a_null_replaced_with_u0000_in_the_site_ledger_is_an_edit(
    demo: Runtime, attacker: Attacker, cli: Cli
) -> None:
    seq = attacker.first_null("comment", "site_history")
    attacker.set_field(seq, "comment", "\x00", "site_history")
    assert problems(demo, cli) == [f"site ledger seq {seq}: edited: {CHANGED}"]


@pytest.mark.postgresql_only
def test_postgresql_refuses_u0000_in_text(demo: Runtime, attacker: Attacker) -> None:
    # why the U+0000 edits are SQLite's: PostgreSQL text cannot hold the character
    seq = attacker.first_null("comment")
    with pytest.raises(psycopg.DataError):
        attacker.set_field(seq, "comment", "\x00")
    with pytest.raises(psycopg.Error, match="null character not permitted"):
        attacker.execute("SELECT chr(0)")


# --- (b) records sealed with encoding 1 -------------------------------------------------------


def test_records_sealed_with_encoding_1_still_verify(
    demo: Runtime, attacker: Attacker, cli: Cli
) -> None:
    attacker.reseal(None)
    hashes = [row[0] for row in attacker.execute("SELECT hash FROM history").fetchall()]
    assert all(h.startswith("sha256:") for h in hashes)
    assert problems(demo, cli) == []
    head = cli("audit", "head").out.strip()
    assert cli("audit", "verify", "--head", head).code == 0


def test_a_chain_of_encoding_1_then_2_verifies(
    keyed: Runtime, keyed_attacker: Attacker, cli: Cli, tmp_path: Path
) -> None:
    keyed_attacker.reseal(keyed.secrets.audit_key, share=0.5)
    labels = {
        row[0].partition(":")[0] for row in keyed_attacker.execute("SELECT hash FROM history")
    }
    assert labels == {"hmac-sha256", "hmac-sha256/2"}
    assert problems(keyed, cli) == []
    # and napflow goes on sealing with encoding 2 after them, in both ledgers
    services.add_person(keyed, "new.observer@unrcpd.example", "New Observer")
    services.grant_role(keyed, PLAN, "new.observer@unrcpd.example", "observer")
    for table in ("history", "site_history"):
        newest = keyed_attacker.execute(
            f"SELECT hash FROM {table} WHERE {_OF[table]} ORDER BY seq DESC LIMIT 1", (PLAN,)
        ).fetchone()[0]
        assert newest.startswith("hmac-sha256/2:"), table
    assert problems(keyed, cli) == []
    # and so does its bundle, on its own
    bundle = tmp_path / "bundle.json"
    assert cli("audit", "export", "--out", str(bundle)).code == 0
    checked = cli("audit", "verify", "--bundle", str(bundle))
    assert checked.code == 0 and checked.out.startswith("OK: "), checked.out + checked.err


@pytest.mark.sqlite_only
def test_the_quick_scan_takes_no_record_for_the_other_encoding(
    demo: Runtime, attacker: Attacker, cli: Cli
) -> None:
    # the scan expects encoding 1 below some id and 2 from it on; a record moved to another
    # id (ids are not sealed) is hashed in the other encoding, and its plan diagnosed
    attacker.reseal(None, share=0.5)
    attacker.execute(
        "UPDATE history SET id = (SELECT max(id) + 1 FROM history) WHERE seq = 2 AND "
        f"{_OF['history']}",
        (PLAN,),
    )
    assert demo.db.sqlite_path is not None
    assert scan_sqlite(demo.db.sqlite_path, None).suspects == [PLAN]
    assert problems(demo, cli) == []


@pytest.mark.sqlite_only
@pytest.mark.parametrize("with_key", [False, True])
def test_a_null_replaced_with_u0000_in_a_record_sealed_with_encoding_1_is_an_edit(
    db_url: str, clock: VirtualClock, cli: Cli, monkeypatch: pytest.MonkeyPatch, with_key: bool
) -> None:
    # the flaw of encoding 1 itself: the bytes are the same, and the verifier refuses them
    if with_key:
        monkeypatch.setenv("NAPFLOW_AUDIT_KEY", AUDIT_KEY)
    rt = build_runtime(Settings(database_url=db_url), clock=clock)
    try:
        services.init_database(rt)
        services.load_demo(rt)
        attacker = Attacker(rt)
        attacker.reseal(rt.secrets.audit_key)
        seq = attacker.first_null("actor")
        attacker.set_field(seq, "actor", "\x00")
        why = (
            "its actor is the character U+0000, where its encoding (1) cannot tell NULL from "
            "the character U+0000 and napflow sealed neither: it was changed"
        )
        assert problems(rt, cli) == [f"{PLAN} seq {seq}: edited: {why}"]
        attacker.close()
    finally:
        rt.db.dispose()


# --- (c) relabelling a record's encoding ------------------------------------------------------


def _relabel_last(attacker: Attacker, old: str, new: str) -> int:
    """Relabel the last record of PLAN from ``old`` to ``new`` (the plan's head with it)."""
    seq, digest = attacker.execute(
        "SELECT seq, hash FROM history WHERE plan_id = (SELECT id FROM plans WHERE key = ?) "
        "ORDER BY seq DESC LIMIT 1",
        (PLAN,),
    ).fetchone()
    assert digest.startswith(f"{old}:")
    relabelled = f"{new}:{digest.partition(':')[2]}"
    attacker.set_field(seq, "hash", relabelled)
    attacker.execute("UPDATE plans SET head_hash = ? WHERE key = ?", (relabelled, PLAN))
    return int(seq)


def test_a_record_relabelled_from_encoding_2_to_1_does_not_verify_with_the_key(
    keyed: Runtime, keyed_attacker: Attacker, cli: Cli
) -> None:
    seq = _relabel_last(keyed_attacker, "hmac-sha256/2", "hmac-sha256")
    assert problems(keyed, cli) == [f"{PLAN} seq {seq}: edited: {CHANGED}"]


def test_a_record_relabelled_from_encoding_1_to_2_does_not_verify_with_the_key(
    keyed: Runtime, keyed_attacker: Attacker, cli: Cli
) -> None:
    keyed_attacker.reseal(keyed.secrets.audit_key)
    seq = _relabel_last(keyed_attacker, "hmac-sha256", "hmac-sha256/2")
    assert problems(keyed, cli) == [f"{PLAN} seq {seq}: edited: {CHANGED}"]


def test_a_record_relabelled_without_its_digest_recomputed_does_not_verify(
    demo: Runtime, attacker: Attacker, cli: Cli
) -> None:
    # without a key anyone could recompute the digest; a relabel alone is still caught
    seq = _relabel_last(attacker, "sha256/2", "sha256")
    assert problems(demo, cli) == [f"{PLAN} seq {seq}: edited: {CHANGED}"]


# --- (d) the views of a record holding what napflow never writes ------------------------------


def _views(rt: Runtime, cli: Cli, tmp_path: Path) -> list[dict[str, Any]]:
    """Show PLAN every way a person or a script sees it; return the API's history."""
    http = web_client(rt)
    log_in(http, COORDINATOR, DEMO_PASSWORD)
    page = http.get(f"/plans/{PLAN}")
    assert page.status_code == 200, page.text[:500]
    bearer = {"Authorization": f"Bearer {accounts.create_api_token(rt, COORDINATOR)}"}
    answer = http.get(f"/api/v1/plans/{PLAN}/history", headers=bearer)
    assert answer.status_code == 200, answer.text[:500]
    for fmt in ("json", "csv", "table"):
        shown = cli("history", PLAN, "--format", fmt)
        assert shown.code == 0, shown.err
    assert json.loads(cli("history", PLAN, "--format", "json").out)
    bundle = tmp_path / "bundle.json"
    assert cli("audit", "export", "--out", str(bundle)).code == 0
    checked = cli("audit", "verify", "--bundle", str(bundle))
    assert checked.code == 1 and checked.out.startswith(f"{PLAN} seq "), checked.out
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


@pytest.mark.sqlite_only
@pytest.mark.parametrize("field", ["comment", "payload", "actor"])
def test_every_view_shows_a_record_holding_u0000(
    demo: Runtime, attacker: Attacker, cli: Cli, tmp_path: Path, field: str
) -> None:
    seq = attacker.first_null(field)
    attacker.set_field(seq, field, "\x00")
    record = next(r for r in _views(demo, cli, tmp_path) if r["seq"] == seq)
    shown = record[field]
    assert shown == ({"unreadable": "\x00"} if field == "payload" else "\x00")
    listed = json.loads(cli("history", PLAN, "--format", "json").out)
    assert next(r for r in listed if r["seq"] == seq)[field] == shown


def _edited_plan(rt: Runtime, attacker: Attacker) -> tuple[int, str]:
    """Record a plan edit (its payload says what changed); return its seq and payload."""
    services.edit_plan(rt, PLAN, title="National Action Plan, revised")
    return attacker.execute(
        f"SELECT seq, payload FROM history WHERE {_OF['history']} ORDER BY seq DESC LIMIT 1",
        (PLAN,),
    ).fetchone()


@pytest.mark.sqlite_only
def test_every_view_shows_a_payload_with_u0000_in_it(
    demo: Runtime, attacker: Attacker, cli: Cli, tmp_path: Path
) -> None:
    seq, payload = _edited_plan(demo, attacker)
    attacker.set_field(seq, "payload", f"{payload}\x00")
    items = {r["seq"]: r for r in _views(demo, cli, tmp_path)}
    assert items[seq]["payload"] == {"unreadable": f"{payload}\x00"}
    table = cli("history", PLAN).out
    assert "unreadable payload" in table and "\\x00" in table and "\x00" not in table


def test_every_view_shows_a_record_whose_payload_is_not_json(
    demo: Runtime, attacker: Attacker, cli: Cli, tmp_path: Path
) -> None:
    # PostgreSQL's stand-in for U+0000: a payload napflow never writes, on both engines
    edited, _ = _edited_plan(demo, attacker)
    changed = {attacker.first_null("payload"): "not json", 1: "[1, 2]", edited: '{"title": '}
    for seq, text in changed.items():
        attacker.set_field(seq, "payload", text)
    items = {r["seq"]: r for r in _views(demo, cli, tmp_path)}
    for seq, text in changed.items():
        assert items[seq]["payload"] == {"unreadable": text}
