"""The history record's fields are declared once (napflow.ledger.record.Record).

The chain, the verifier's scan, the audit bundle and the history views derive theirs from
it; what cannot be derived (a dataclass people read, a table the database keeps) is checked
against it here, so a field added in one place and not the others fails.
"""

from __future__ import annotations

import dataclasses

from napflow.ledger import chain, verification
from napflow.ledger.record import FIELDS, NUMBERS, OPTIONAL, Record
from napflow.services.history import HistoryRecord
from napflow.storage.schema import history


def test_the_chain_seals_every_field_but_the_digest_in_declaration_order() -> None:
    assert chain.FIELDS == FIELDS == Record._fields[:-1]
    assert Record._fields[-1] == "hash"


def test_the_history_table_keeps_every_field_with_the_declared_nullability() -> None:
    columns = {c.name: c for c in history.columns}
    assert set(Record._fields) <= set(columns)
    assert {n for n in Record._fields if columns[n].nullable} == OPTIONAL
    assert {n for n in Record._fields if columns[n].type.python_type is int} == NUMBERS


def test_the_history_view_shows_every_sealed_field_but_the_chain_link() -> None:
    shown = [f.name for f in dataclasses.fields(HistoryRecord)]
    assert shown == [name for name in FIELDS if name != "prev_hash"]


def test_the_sqlite_scan_reads_every_sealed_field_in_order() -> None:
    sql = verification._HISTORY_SQL
    positions = [sql.index(f'h."{name}"') for name in FIELDS]
    assert positions == sorted(positions)
    assert sql.index("h.hash FROM") > positions[-1]  # and the digest last
