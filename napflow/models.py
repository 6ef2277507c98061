"""The database schema (SQLAlchemy Core tables). Alembic migrations create and evolve it.

Plans carry a ``version`` that goes up by one with every change recorded in their history;
a history record's ``seq`` is the version the plan reached with it, so the pair
(plan_id, seq) is unique and the last record's seq always equals the plan's version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every engine (SQLite stores it without the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Store aware datetimes in UTC; refuse naive ones, whose zone is unknown."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("napflow stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64)),
    Column("locale", String(35)),
    Column("created_at", UTCDateTime, nullable=False),
)

plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(32), nullable=False, unique=True),
    Column("country", String(3), nullable=False),
    Column("title", String(500), nullable=False),
    Column("workflow", String(63), nullable=False),
    Column("workflow_version", Integer, nullable=False),
    Column("state", String(63), nullable=False),
    Column("version", Integer, nullable=False),
    # seq of the history record with which the plan entered its state: a round's start
    Column("entered_seq", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # digest of the plan's latest history record: where its chain continues (napflow.chain)
    Column("head_hash", String(80), nullable=False, server_default=""),
)

roles = Table(
    "roles",
    metadata,
    Column("plan_id", Integer, ForeignKey("plans.id"), primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), primary_key=True),
    Column("role", String(63), primary_key=True),
    Column("granted_at", UTCDateTime, nullable=False),
)

history = Table(
    "history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("trigger", String(63)),
    Column("from_state", String(63)),
    Column("to_state", String(63)),
    Column("actor", String(254)),
    Column("role", String(63)),
    Column("comment", Text),
    Column("at", UTCDateTime, nullable=False),
    Column("workflow", String(63), nullable=False),
    Column("workflow_version", Integer, nullable=False),
    Column("payload", JSON(none_as_null=True)),
    Column("prev_hash", String(80), nullable=False, server_default=""),
    Column("hash", String(80), nullable=False, server_default=""),
    UniqueConstraint("plan_id", "seq", name="uq_history_plan_id_seq"),
)

deadlines = Table(
    "deadlines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("kind", String(63), nullable=False),
    Column("title", String(200), nullable=False),
    Column("location", String(200)),
    # the calendar date (and optional wall-clock time) in the deadline's own zone
    Column("due_on", Date, nullable=False),
    Column("ends_on", Date),
    Column("at_time", String(5)),
    Column("timezone", String(64), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    # bumped on every move: the .ics SEQUENCE, and part of each reminder's key
    Column("sequence", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("deadline_id", Integer, ForeignKey("deadlines.id")),
    Column("kind", String(16), nullable=False),
    Column("rung", String(32), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("send_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    # when the row is next due: send_at, or later after a temporary failure
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("message_id", String(255)),
    # sent well after its time (the daemon was down): said in the message
    Column("late", Boolean, nullable=False),
    Column("payload", JSON(none_as_null=True)),
    Column("created_at", UTCDateTime, nullable=False),
)

Index("ix_roles_person_id", roles.c.person_id)
Index("ix_deadlines_plan_id", deadlines.c.plan_id)
Index("ix_outbox_status_next_attempt_at", outbox.c.status, outbox.c.next_attempt_at)
Index("ix_outbox_deadline_id", outbox.c.deadline_id)


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


class Status:
    """Statuses of deadlines and outbox rows."""

    PENDING = "pending"  # deadline not yet met; message waiting to be sent
    MET = "met"
    CANCELLED = "cancelled"
    SENDING = "sending"  # claimed by a dispatcher
    SENT = "sent"
    FAILED = "failed"  # permanently: the server refused it
