"""The history record: its kinds, and the fields its digest covers.

Every history record is one of :class:`Kind`; the names in :data:`FIELDS` are the record's
sealed fields in the order the chain encodes them (napflow.ledger.chain). The storage schema,
the verifier and the history views all take the field list from here.
"""

from __future__ import annotations

#: the fields of a record that its digest covers, in the order they are encoded
FIELDS = (
    "seq",
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
    "prev_hash",
)


class Kind:
    """The kinds of history record."""

    CREATED = "created"
    TRANSITION = "transition"  # the plan moved to another state
    ACTION = "action"  # a recorded action that leaves the state (an endorsement)
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    DEADLINE_ADDED = "deadline_added"
    DEADLINE_MOVED = "deadline_moved"
    DEADLINE_CANCELLED = "deadline_cancelled"
    DEADLINE_MET = "deadline_met"
    MAIL_SENT = "mail_sent"  # a reminder, escalation or notice was accepted by the server
    MAIL_FAILED = "mail_failed"  # the server refused it for good, or retries ran out


#: records that are bookkeeping, not actions: they do not change a plan's version
UNVERSIONED_KINDS = frozenset({Kind.MAIL_SENT, Kind.MAIL_FAILED})
#: records that set the state a plan is in
STATE_KINDS = frozenset({Kind.CREATED, Kind.TRANSITION})
