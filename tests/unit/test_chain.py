"""The ledger's encoding: the canonical bytes of a record, their digest (plain or keyed),
the seal of a record, the genesis a plan's chain starts from, and the digest of all heads.

The expected bytes are written out by hand from the documented format (napflow.ledger.chain),
and the digests are checked against published test vectors, so the encoding cannot drift
without a test failing: a changed encoding would leave every stored ledger unverifiable.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napflow.ledger import chain
from napflow.ledger.record import FIELDS

pytestmark = pytest.mark.unit

AUDIT_KEY = b"correct horse battery staple"
#: a plan's first record as napflow writes it (the payload already stored text)
FIRST: dict[str, Any] = {
    "seq": 1,
    "kind": "created",
    "trigger": None,
    "from_state": None,
    "to_state": "drafting",
    "actor": "coord@example.org",
    "role": None,
    "comment": None,
    "at": datetime(2015, 7, 1, 4, 0, tzinfo=UTC),
    "workflow": "nap",
    "workflow_version": 1,
    "payload": '{"country":"TJK"}',
    "prev_hash": "plan:TJK-1",
}
#: FIRST's canonical bytes, by hand: fields joined by U+001F, NULL as U+0000
FIRST_BYTES = (
    b"1\x1fcreated\x1f\x00\x1f\x00\x1fdrafting\x1fcoord@example.org\x1f\x00\x1f\x00"
    b'\x1f2015-07-01 04:00:00.000000\x1fnap\x1f1\x1f{"country":"TJK"}\x1fplan:TJK-1'
)


def test_canonical_bytes_join_the_fields_with_the_unit_separator() -> None:
    assert chain.canonical(["a", None, 3, "", "Душанбе"]) == (
        b"a\x1f\x00\x1f3\x1f\x1f\xd0\x94\xd1\x83\xd1\x88\xd0\xb0\xd0\xbd\xd0\xb1\xd0\xb5"
    )
    assert chain.canonical([]) == b""


def test_an_empty_text_and_a_null_encode_differently() -> None:
    assert chain.canonical(["a", ""]) != chain.canonical(["a", None])


def test_a_separator_moved_between_fields_changes_the_bytes() -> None:
    assert chain.canonical(["ab", "c"]) != chain.canonical(["a", "bc"])


def test_a_plain_digest_is_sha256_of_the_bytes() -> None:
    # FIPS 180-2, appendix B.1
    assert chain.digest(b"abc", None) == (
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_a_keyed_digest_is_hmac_sha256() -> None:
    # RFC 4231, test case 2
    assert chain.digest(b"what do ya want for nothing?", b"Jefe") == (
        "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_the_key_decides_the_digest() -> None:
    data = b"some record"
    plain, keyed = chain.digest(data, None), chain.digest(data, AUDIT_KEY)
    assert plain != keyed
    assert keyed != chain.digest(data, AUDIT_KEY + b"!")
    assert chain.digest(data, b"") == plain  # an empty key is no key
    assert (chain.algorithm(plain), chain.algorithm(keyed)) == ("sha256", "hmac-sha256")


def test_a_record_is_sealed_over_its_fields_in_order() -> None:
    v1 = chain.V1  # encoding 1, as records sealed before encoding 2 were
    assert chain.seal(FIRST, None, v1) == f"sha256:{hashlib.sha256(FIRST_BYTES).hexdigest()}"
    assert chain.seal(FIRST, AUDIT_KEY, v1) == chain.digest(FIRST_BYTES, AUDIT_KEY)


def test_a_seal_ignores_other_keys_their_order_and_takes_a_missing_field_as_null() -> None:
    shuffled = dict(reversed(list(FIRST.items())))
    assert chain.seal({**shuffled, "plan_id": 7, "hash": "x"}, None) == chain.seal(FIRST, None)
    without_comment = {k: v for k, v in FIRST.items() if k != "comment"}
    assert chain.seal(without_comment, None) == chain.seal(FIRST, None)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2015, 7, 1, 6, 0, tzinfo=ZoneInfo("Europe/Vienna")),
        datetime(2015, 7, 1, 9, 0, tzinfo=ZoneInfo("Asia/Dushanbe")),
        datetime(2015, 7, 1, 4, 0, tzinfo=ZoneInfo("UTC")),
        datetime(2015, 6, 30, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_a_seal_depends_on_the_instant_not_on_the_zone_it_is_given_in(at: datetime) -> None:
    assert chain.seal({**FIRST, "at": at}, None) == chain.seal(FIRST, None)


@pytest.mark.parametrize("name", [f for f in FIELDS if f != "at"])
def test_changing_any_field_changes_the_seal(name: str) -> None:
    value = FIRST[name]
    other = value + 1 if isinstance(value, int) else f"{value}x" if value else "x"
    assert chain.seal({**FIRST, name: other}, None) != chain.seal(FIRST, None)
    assert chain.seal({**FIRST, name: other}, AUDIT_KEY) != chain.seal(FIRST, AUDIT_KEY)


def test_changing_the_time_by_a_microsecond_changes_the_seal() -> None:
    later = FIRST["at"] + timedelta(microseconds=1)
    assert chain.seal({**FIRST, "at": later}, None) != chain.seal(FIRST, None)


def test_a_plans_first_record_is_bound_to_the_plans_key() -> None:
    assert chain.genesis("TJK-1") == "plan:TJK-1"
    elsewhere = {**FIRST, "prev_hash": chain.genesis("KGZ-1")}
    assert chain.seal(elsewhere, None) != chain.seal(FIRST, None)


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (datetime(2015, 7, 1, 4, 0, tzinfo=UTC), "2015-07-01 04:00:00.000000"),
        (datetime(2015, 7, 1, 4, 5, 6, 789, tzinfo=UTC), "2015-07-01 04:05:06.000789"),
        (datetime(2015, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "2015-12-31 23:59:59.999999"),
        # another zone is turned into UTC, across the date line too
        (
            datetime(2015, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Vienna")),
            "2015-07-01 07:00:00.000000",
        ),
        (
            datetime(2015, 1, 1, 3, 0, tzinfo=ZoneInfo("Asia/Dushanbe")),
            "2014-12-31 22:00:00.000000",
        ),
        (datetime(2015, 1, 1, 0, 0, tzinfo=ZoneInfo("UTC")), "2015-01-01 00:00:00.000000"),
    ],
)
def test_a_time_is_encoded_as_utc_with_microseconds_and_no_offset(at: datetime, text: str) -> None:
    assert chain.at_text(at) == text


def test_a_payload_is_stored_as_compact_json_with_sorted_keys() -> None:
    payload = {"b": [1, 2], "a": {"z": None, "y": "Душанбе"}}
    assert chain.payload_text(payload) == '{"a":{"y":"Душанбе","z":null},"b":[1,2]}'
    assert chain.payload_text(None) is None


HEADS = {"TJK-1": "sha256:aa", "KGZ-1": "sha256:bb", "SRB-2": "hmac-sha256:cc"}


def test_the_head_digest_covers_every_plan_in_key_order() -> None:
    text = "KGZ-1\x1fsha256:bb\nSRB-2\x1fhmac-sha256:cc\nTJK-1\x1fsha256:aa\n"
    expected = f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    assert chain.head_digest(HEADS) == expected


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(sorted(HEADS)))
def test_the_head_digest_does_not_depend_on_the_order_plans_are_given_in(
    order: list[str],
) -> None:
    assert chain.head_digest({key: HEADS[key] for key in order}) == chain.head_digest(HEADS)


def test_the_head_digest_changes_with_any_head_and_any_plan() -> None:
    digests = {
        chain.head_digest(HEADS),
        chain.head_digest({**HEADS, "TJK-1": "sha256:ab"}),
        chain.head_digest({**HEADS, "UZB-1": "sha256:dd"}),
        chain.head_digest({k: v for k, v in HEADS.items() if k != "SRB-2"}),
        chain.head_digest({}),
    }
    assert len(digests) == 5
    # where a key ends and its head begins is part of what is hashed
    assert chain.head_digest({"A": "Bx"}) != chain.head_digest({"AB": "x"})
