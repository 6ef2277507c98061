"""The history record: its fields, the ones its digest covers, and its kinds.

Every history record is one of :class:`Kind`. :class:`Record` declares its fields once;
:data:`FIELDS` are those the chain seals, in the order it encodes them
(:mod:`napflow.ledger.chain`).
"""

from __future__ import annotations

from typing import NamedTuple


class Record(NamedTuple):
    """One history record as sealed: ``at`` and ``payload`` as their canonical text.

    This declaration is the one list of a record's fields: everything before ``hash`` is
    what the digest covers, in the order it is encoded (:data:`FIELDS`); the verifier's
    scan, the audit bundle, its checks and the history views all derive theirs from it.
    """

    seq: int
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str | None
    actor: str | None
    role: str | None
    comment: str | None
    at: str
    workflow: str
    workflow_version: int
    payload: str | None
    prev_hash: str
    hash: str


#: the fields of a record that its digest covers, in the order they are encoded
FIELDS: tuple[str, ...] = Record._fields[:-1]
#: the fields that hold whole numbers (encoded as their decimal text)
NUMBERS = frozenset({"seq", "workflow_version"})
#: the fields that may be empty (NULL)
OPTIONAL = frozenset({"trigger", "from_state", "to_state", "actor", "role", "comment", "payload"})


class Kind:
    """The kinds of history record."""

    CREATED = "created"
    TRANSITION = "transition"  # the plan moved to another state
    ACTION = "action"  # a recorded action that leaves the state (an endorsement)
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    PLAN_EDITED = "plan_edited"  # the plan's title or time zone changed
    DRAFT_ADDED = "draft_added"  # a new version of the plan's document, its digest sealed
    DEADLINE_ADDED = "deadline_added"
    DEADLINE_MOVED = "deadline_moved"
    DEADLINE_CANCELLED = "deadline_cancelled"
    DEADLINE_MET = "deadline_met"
    MAIL_SENT = "mail_sent"  # a reminder, escalation or notice was accepted by the server
    MAIL_FAILED = "mail_failed"  # the server refused it for good, or retries ran out
    MAIL_REQUEUED = "mail_requeued"  # an administrator sent a failed message again
    #: the plan moved to another version of its workflow (its state mapped); the record is
    #: made under the new version, its payload names the old one and the mapping
    MIGRATED = "migrated"


class SiteKind:
    """The kinds of site ledger record: changes to people and site grants, not to a plan.

    A site record is sealed like a plan's (:class:`Record`): no trigger, states or role,
    ``workflow`` ``"site"`` at version 0, its first record chained to ``"site"``.
    """

    PERSON_ADDED = "person_added"
    PERSON_EDITED = "person_edited"  # name, time zone or e-mail address changed
    PERSON_DEACTIVATED = "person_deactivated"
    PERSON_ACTIVATED = "person_activated"
    ACCESS_GRANTED = "access_granted"
    ACCESS_REVOKED = "access_revoked"
    PASSWORD_SET = "password_set"  # noqa: S105 - a record kind; the password is never kept
    #: a workflow version was used for the first time: its name, version and the digest of
    #: its text (stored in ``workflow_versions``) sealed
    WORKFLOW_STORED = "workflow_stored"


#: the workflow name and version site records carry in their sealed fields
SITE_WORKFLOW = ("site", 0)
#: records that are bookkeeping, not actions: they do not change a plan's version
UNVERSIONED_KINDS = frozenset({Kind.MAIL_SENT, Kind.MAIL_FAILED, Kind.MAIL_REQUEUED})
#: records that set the state a plan is in (and start a round there)
STATE_KINDS = frozenset({Kind.CREATED, Kind.TRANSITION})
#: records after which a plan is in their ``to_state``: those, and a migration to another
#: version of its workflow (which maps its state, and keeps its round)
PLACING_KINDS = STATE_KINDS | {Kind.MIGRATED}
