"""Signed audit bundles, and the plan rows of a bundle held to its sealed records.

With ``NAPFLOW_AUDIT_SIGNING_KEY`` set, ``napflow audit export`` (and the web app's
download) signs the whole bundle with Ed25519 (:mod:`napflow.services.signing`): every
record, each plan's row, the workflow files' text and SHA-256, the drafts' digests, the
head and the time of export. A ZIP bundle's ``bundle.json`` is the same signed document,
and it lists every draft's SHA-256, which ``audit verify --bundle`` checks each file
against. ``audit verify --bundle FILE --public-key PUB`` then proves napflow exported the
bundle as it is: a bundle someone edited or rechained, however consistently, fails.

Without a signature, what a bundle says of a plan is still held to what its records
sealed: the creation record seals its title, country and time zone, each ``plan_edited``
record a new title or time zone, and every record the workflow and its version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from napflow.ledger.record import Kind
from napflow.ledger.verification import CHANGED, EDITED, FORGED, MISSING, Problem
from napflow.services.signing import (
    OTHER_KEY,
    UNSIGNED,
    fingerprint,
    load_private_key,
    load_public_key,
    sign,
    signature_problem,
    signed_by,
)

#: what problems with a bundle's signature are reported under (a Problem's ``plan``)
BUNDLE = "bundle"
#: the fields of a plan's row that its records seal, and the record kinds that set them
_CREATED_FIELDS = ("title", "country", "timezone")
_EDITED_FIELDS = ("title", "timezone")


def sign_bundle(key_file: str | None, bundle: dict[str, Any]) -> dict[str, Any]:
    """Return ``bundle`` signed with the key in ``key_file`` (unchanged when None)."""
    if key_file is None:
        return bundle
    return sign(bundle, load_private_key(key_file))


def check_signature(
    data: Mapping[str, Any], public_key: str | None
) -> tuple[list[Problem], list[str]]:
    """Return the problems with a bundle's signature, and notes on what was checked.

    With ``public_key`` (a PEM file) the bundle must be signed with that key; without, a
    signature is only named, unchecked.
    """
    if public_key is None:
        claimed = signed_by(data)
        if claimed is None:
            return [], []
        return [], [
            f"The bundle is signed (Ed25519 key {claimed}), but the signature was not "
            "checked: give --public-key FILE."
        ]
    public = load_public_key(public_key)
    found = signature_problem(data, public)
    if found is None:
        return [], [f"The bundle is signed with the given key {fingerprint(public)}."]
    what, why = found
    if what == UNSIGNED:
        why = (
            "it is not signed, so nothing shows napflow exported it (napflow signs bundles "
            "when NAPFLOW_AUDIT_SIGNING_KEY is set)"
        )
    kind = MISSING if what == UNSIGNED else FORGED if what == OTHER_KEY else EDITED
    return [Problem(BUNDLE, None, kind, why)], []


def _payload(record: Mapping[str, Any]) -> dict[str, Any]:
    text = record.get("payload")
    try:
        found = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _sealed_row(records: list[Any]) -> tuple[dict[str, Any], list[str]] | None:
    """Return what a plan's records seal of its row, and the fields they leave unsealed.

    None if the records do not begin with a creation record (the chain check says why).
    """
    if not records or not isinstance(records[0], dict) or records[0].get("kind") != Kind.CREATED:
        return None
    created = _payload(records[0])
    sealed = {name: created[name] for name in _CREATED_FIELDS if name in created}
    for record in records[1:]:
        if isinstance(record, dict) and record.get("kind") == Kind.PLAN_EDITED:
            edited = _payload(record)
            for name in _EDITED_FIELDS:
                change = edited.get(name)
                if isinstance(change, list) and len(change) == 2:
                    sealed[name] = change[1]
    last = records[-1] if isinstance(records[-1], dict) else {}
    sealed["workflow"] = last.get("workflow")
    sealed["workflow_version"] = last.get("workflow_version")
    return sealed, [name for name in _CREATED_FIELDS if name not in sealed]


def check_plan_rows(plans: list[Any]) -> tuple[list[Problem], list[str]]:
    """Hold each plan's title, country, time zone and workflow to what its records sealed.

    Return the problems (a field the bundle changed) and notes (a field an old creation
    record did not seal: not covered, so not failed).
    """
    problems: list[Problem] = []
    notes: list[str] = []
    for plan in plans:
        if not isinstance(plan, dict) or not isinstance(plan.get("records"), list):
            continue
        found = _sealed_row(plan["records"])
        if found is None:
            continue
        sealed, unsealed = found
        key = str(plan.get("key"))
        for name, expected in sealed.items():
            value = plan.get(name)
            if value != expected:
                problems.append(
                    Problem(
                        key,
                        None,
                        CHANGED,
                        f"its {name} in the bundle is {value!r}, but its sealed records give "
                        f"{expected!r}: the bundle's plan row was changed",
                    )
                )
        if unsealed:
            names = " and ".join(unsealed)
            notes.append(
                f"{key}: not covered: its creation record does not seal its {names} (a plan "
                "made before napflow sealed them), so the bundle's cannot be checked."
            )
    return problems, notes
