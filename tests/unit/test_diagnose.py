"""verification.diagnose on hand-built chains: every kind of tampering is named at the record
it concerns (edited, missing, reordered, forged), and a plan row that disagrees with its
history is reported.

The chains are sealed with napflow.ledger.chain (pinned by test_chain.py) and then tampered
with as someone with write access to the database would: a field changed, a row deleted,
seq numbers swapped, a record rewritten and sealed again.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napflow.ledger import chain
from napflow.ledger.record import UNVERSIONED_KINDS, Kind
from napflow.ledger.verification import (
    CHANGED,
    EDITED,
    FORGED,
    MISSING,
    REORDERED,
    KeyNeeded,
    PlanState,
    Problem,
    Record,
    diagnose,
)

pytestmark = pytest.mark.unit

KEY = "TJK-1"
AUDIT_KEY = b"correct horse battery staple"
START = datetime(2015, 7, 1, 4, 0, tzinfo=UTC)
COORD, CHAIR, MEMBER = "coord@example.org", "chair@example.org", "member@example.org"
WG = "working_group_review"
#: a plan's history: (kind, trigger, to_state, actor, role, comment, payload)
STEPS: list[tuple[Any, ...]] = [
    (Kind.CREATED, None, "drafting", COORD, None, None, {"country": "TJK"}),
    (Kind.TRANSITION, "submit_for_review", WG, COORD, "coordinator", None, None),
    (Kind.ACTION, "endorse", WG, MEMBER, "wg_member", None, None),
    (Kind.MAIL_SENT, None, WG, None, None, None, {"outbox": 1}),
    (Kind.TRANSITION, "request_changes", "drafting", CHAIR, "wg_chair", "Revise annex B.", None),
    (Kind.TRANSITION, "submit_for_review", WG, COORD, "coordinator", None, None),
]
N = len(STEPS)


def sealed(record: Record, key: bytes | None) -> Record:
    """``record`` with its digest computed anew (what a forger writes)."""
    return record._replace(hash=chain.digest(chain.canonical(record[:-1]), key))


def build(plan_key: str = KEY, keyed_from: int | None = None) -> list[Record]:
    """The records of STEPS, chained; sealed with AUDIT_KEY from seq ``keyed_from`` on."""
    records: list[Record] = []
    prev, state = chain.genesis(plan_key), None
    for seq, (kind, trigger, to_state, actor, role, comment, payload) in enumerate(STEPS, 1):
        at = chain.at_text(START + timedelta(hours=seq))
        values = (seq, kind, trigger, state, to_state, actor, role, comment, at, "nap", 1)
        record = Record(*values, chain.payload_text(payload), prev, "")
        key = AUDIT_KEY if keyed_from is not None and seq >= keyed_from else None
        record = sealed(record, key)
        records.append(record)
        prev, state = record.hash, to_state
    return records


def row(records: list[Record], plan_key: str = KEY, **changes: Any) -> PlanState:
    """The plans row as napflow leaves it after ``records``, with ``changes``."""
    last = records[-1]
    version = sum(1 for r in records if r.kind not in UNVERSIONED_KINDS)
    state = PlanState(plan_key, str(last.to_state), version, last.seq, last.hash)
    return state._replace(**changes)


def found(problems: list[Problem]) -> list[tuple[int | None, str]]:
    return [(p.seq, p.kind) for p in problems]


def test_an_intact_chain_has_no_problem() -> None:
    records = build()
    assert diagnose(row(records), records, None) == []
    keyed = build(keyed_from=1)
    assert diagnose(row(keyed), keyed, AUDIT_KEY) == []


def test_the_hand_built_chain_links_as_napflow_links() -> None:
    # the fixture itself: each record links to the one before, the first to its plan
    records = build()
    assert records[0].prev_hash == "plan:TJK-1"
    assert all(r.prev_hash == p.hash for p, r in itertools.pairwise(records))
    assert row(records) == PlanState(KEY, "working_group_review", 5, 6, records[-1].hash)


def test_an_edited_record_is_named() -> None:
    records = build()
    records[2] = records[2]._replace(comment="I never endorsed this.")
    problems = diagnose(row(records), records, None)
    assert problems == [Problem(KEY, 3, EDITED, "its content no longer matches its digest")]
    assert str(problems[0]) == "TJK-1 seq 3: edited: its content no longer matches its digest"


def test_a_missing_record_is_named() -> None:
    records = build()
    plan = row(records)
    del records[2]
    problems = diagnose(plan, records, None)
    assert problems == [Problem(KEY, 3, MISSING, "record seq 3 was removed from the history")]


def test_missing_records_are_named_as_a_span_at_the_start_middle_and_end() -> None:
    records = build()
    plan = row(records)
    middle = records[:2] + records[4:]
    assert diagnose(plan, middle, None) == [
        Problem(KEY, 3, MISSING, "records seq 3-4 were removed from the history")
    ]
    assert found(diagnose(plan, records[1:], None)) == [(1, MISSING)]
    assert diagnose(plan, records[:-2], None) == [
        Problem(KEY, 5, MISSING, "records seq 5-6 were removed from the end")
    ]
    assert found(diagnose(plan, [], None)) == [(1, MISSING)]


def test_a_reordered_record_is_named_with_where_it_was_written() -> None:
    records = build()
    # seq numbers 3 and 4 swapped, the rows read back in seq order
    swapped = [*records[:2], records[3]._replace(seq=3), records[2]._replace(seq=4), *records[4:]]
    assert diagnose(row(records), swapped, None) == [
        Problem(KEY, 3, REORDERED, "it was written right after the record now at seq 4"),
        Problem(KEY, 4, REORDERED, "it was written right after the record now at seq 2"),
        Problem(KEY, 5, REORDERED, "it was written right after the record now at seq 3"),
    ]


def test_a_record_replaced_content_and_digest_is_named_as_forged() -> None:
    records = build()
    records[2] = sealed(records[2]._replace(actor=CHAIR, role="wg_chair"), None)
    problems = diagnose(row(records), records, None)
    assert found(problems) == [(3, FORGED)]
    assert "content and digest were both replaced" in problems[0].detail


def test_a_rewritten_end_of_the_chain_disagrees_with_the_plans_head() -> None:
    records = build()
    head = records[-1].hash
    records[-1] = sealed(records[-1]._replace(actor=MEMBER), None)
    problems = diagnose(row(records, head_hash=head), records, None)
    assert found(problems) == [(N, FORGED)]
    assert "head remembers another digest" in problems[0].detail


def test_a_chain_moved_to_another_plan_is_named_at_its_start() -> None:
    records = build("KGZ-1")
    problems = diagnose(row(records), records, None)  # the row says TJK-1
    assert found(problems) == [(1, FORGED)]
    assert "the chain begins with 'plan:KGZ-1'" in problems[0].detail


def test_records_sealed_with_the_audit_key_need_it() -> None:
    records = build(keyed_from=1)
    with pytest.raises(KeyNeeded):
        diagnose(row(records), records, None)
    wrong = diagnose(row(records), records, AUDIT_KEY + b"x")
    assert found(wrong) == [(seq, EDITED) for seq in range(1, N + 1)]


def test_a_record_rewritten_without_the_key_is_named_as_forged() -> None:
    records = build(keyed_from=1)
    # the forger edits seq 3 and seals it, and every record after it, with plain SHA-256
    prev = records[1].hash
    for i in range(2, N):
        record = records[i]._replace(prev_hash=prev)
        if i == 2:
            record = record._replace(comment="I never endorsed this.")
        records[i] = sealed(record, None)
        prev = records[i].hash
    problems = diagnose(row(records), records, AUDIT_KEY)
    assert found(problems) == [(seq, FORGED) for seq in range(3, N + 1)]
    assert all("without the key" in p.detail for p in problems)


def test_plain_records_before_the_key_was_set_are_accepted_only_when_allowed() -> None:
    records = build(keyed_from=4)
    assert diagnose(row(records), records, AUDIT_KEY, allow_unkeyed=True) == []
    strict = diagnose(row(records), records, AUDIT_KEY)
    assert found(strict) == [(1, FORGED), (2, FORGED), (3, FORGED)]


def test_a_plain_record_after_a_keyed_one_is_forged_even_when_unkeyed_ones_are_allowed() -> None:
    records = build(keyed_from=1)
    records[-1] = sealed(records[-1], None)
    problems = diagnose(row(records), records, AUDIT_KEY, allow_unkeyed=True)
    assert found(problems) == [(N, FORGED)]
    assert "after the chain was sealed with the audit key" in problems[0].detail


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        (
            {"state": "approved"},
            "its state is 'approved' but its history leads to 'working_group_review': "
            "the state was changed behind the ledger's back",
        ),
        ({"version": 9}, "its version is 9 but its history records 5 actions"),
        ({"seq": 5}, "the plan says its history ends at seq 5, but it goes on to seq 6"),
    ],
)
def test_a_plan_row_changed_behind_the_ledgers_back_is_reported(
    changes: dict[str, Any], detail: str
) -> None:
    records = build()
    assert diagnose(row(records, **changes), records, None) == [Problem(KEY, None, CHANGED, detail)]


@settings(max_examples=300, deadline=None)
@given(order=st.permutations(range(N)), renumber=st.booleans())
def test_any_reordering_of_records_is_detected(order: list[int], renumber: bool) -> None:
    """Rows given new seq numbers (renumber), or handed over in another order (a bundle)."""
    records = build()
    shuffled = [records[i] for i in order]
    if renumber:
        shuffled = [r._replace(seq=seq) for seq, r in enumerate(shuffled, 1)]
    problems = diagnose(row(records), shuffled, None)
    if order == list(range(N)):
        assert problems == []
        return
    assert problems
    if renumber:  # every record that moved is named where it now is
        moved = {seq for seq, i in enumerate(order, 1) if seq != i + 1}
        assert moved <= {p.seq for p in problems}


CONTENT = [
    "kind",
    "trigger",
    "from_state",
    "to_state",
    "actor",
    "role",
    "comment",
    "at",
    "workflow",
    "workflow_version",
    "payload",
]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, N - 1), name=st.sampled_from(CONTENT), data=st.data())
def test_any_edit_of_any_field_is_named_at_its_record_and_nowhere_else(
    index: int, name: str, data: st.DataObject
) -> None:
    records = build()
    old = getattr(records[index], name)
    values = st.integers(0, 10**6) if name == "workflow_version" else TEXT
    new = data.draw(values.filter(lambda v: v != old), label="new value")
    records[index] = records[index]._replace(**{name: new})
    problems = diagnose(row(build()), records, None)
    assert [(p.seq, p.kind) for p in problems if p.seq is not None] == [(index + 1, EDITED)]
    # what the edit led to may show in the plan row (another state, another action count)
    assert all(p.kind == CHANGED for p in problems if p.seq is None)
