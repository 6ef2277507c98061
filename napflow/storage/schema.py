"""The database schema (SQLAlchemy Core tables). Alembic migrations create and evolve it.

A plan's history is a hash chain (napflow.ledger.chain): record ``seq`` N carries the digest of
record N-1 and its own; the plan row keeps the last ``seq`` and ``head_hash``, where the chain
continues. A plan's ``version`` counts the actions taken on it (every record but the
bookkeeping of mail deliveries), so a form or ``--expect-version`` is not outdated by a
reminder going out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeDecorator

from napflow.ledger.chain import at_text, payload_text

#: the key a stored payload that is not a JSON object is read back under (LedgerJSON)
UNREADABLE = "unreadable"


class LedgerJSON(TypeDecorator[Any]):
    """JSON stored as the canonical text the history's digests cover (napflow.ledger.chain).

    Kept as text on every engine (PostgreSQL's jsonb would reorder it). Writers that
    seal a record pass the text they hashed, a ``str``; a dict is encoded here.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Store a payload's canonical text (a str is taken as already canonical)."""
        return value if value is None or isinstance(value, str) else payload_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        """Return the payload as Python values.

        Stored text that is not a JSON object (napflow writes none: it was changed behind
        napflow's back, which ``napflow audit verify`` reports) comes back as
        ``{"unreadable": text}``, so that no page, answer or export of it fails.
        """
        if value is None:
            return None
        try:
            found = json.loads(value)
        except (ValueError, RecursionError):  # a U+0000 where NULL was, say
            found = None
        return found if isinstance(found, dict) else {UNREADABLE: value}


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

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, write the stored text directly (what SQLite's DATETIME would write).

        The same text as napflow.ledger.chain.at_text, at a third of the cost of the generic path:
        every action writes two of these.
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("napflow stores only timezone-aware datetimes")
            return at_text(value)

        return process

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
    # set when the person left: no logins, sessions, tokens, actions or reminders since
    Column("deactivated_at", UTCDateTime),
    # "daily": one mail a day listing what was queued (urgent messages still go at once)
    Column("digest", String(16)),
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
    # the number of actions recorded (what --expect-version and forms compare)
    Column("version", Integer, nullable=False),
    # the seq of the plan's last history record, and its digest (napflow.ledger.chain)
    Column("seq", Integer, nullable=False, server_default="0"),
    Column("head_hash", String(80), nullable=False, server_default=""),
    # seq of the history record with which the plan entered its state: a round's start
    Column("entered_seq", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # the plan's current draft (0 and "": none yet), read with the plan by every action
    Column("draft_version", Integer, nullable=False, server_default="0"),
    Column("draft_sha256", String(64), nullable=False, server_default=""),
    # the language of mails to people on the plan who chose none (None: English)
    Column("locale", String(35)),
    # the key and title folded for a search without regard to case (napflow.storage.text);
    # written with them, never shown
    Column("search", Text),
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
    Column("payload", LedgerJSON()),
    Column("prev_hash", String(80), nullable=False),
    Column("hash", String(80), nullable=False),
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
# the countries a person's plans are in: the plans list's filter offers them
Index("ix_plans_country", plans.c.country)
# a plan's pending deadlines in time order, with their kind: the plans list sorts by the
# next one (a session that took place does not count), from the index alone
Index(
    "ix_deadlines_plan_id_status_due_at_kind",
    deadlines.c.plan_id,
    deadlines.c.status,
    deadlines.c.due_at,
    deadlines.c.kind,
)
Index("ix_outbox_status_next_attempt_at", outbox.c.status, outbox.c.next_attempt_at)
# a plan's queued messages (its page lists them)
Index("ix_outbox_plan_id_status", outbox.c.plan_id, outbox.c.status)
Index("ix_outbox_deadline_id", outbox.c.deadline_id)


accounts = Table(
    "accounts",
    metadata,
    # a person who may log in to the web app: an argon2 hash of their password
    Column("person_id", Integer, ForeignKey("people.id"), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # the SHA-256 of the cookie's random token: a stolen database yields no live session
    Column("token_hash", String(64), primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_web_sessions_person_id", "person_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False),
    # the address the attempt came from (behind a proxy, what it forwards)
    Column("client", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # true while its password is being checked, false once it failed (a login that
    # succeeds deletes its row)
    Column("pending", Boolean, nullable=False, server_default=false()),
    Index("ix_login_failures_client_at", "client", "at"),
)

app_secrets = Table(
    "app_secrets",
    metadata,
    # secrets napflow generates once and keeps with the database (calendar feed tokens)
    Column("name", String(63), primary_key=True),
    Column("value", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


draft_contents = Table(
    "draft_contents",
    metadata,
    # the bytes of a draft, stored once per SHA-256 however many drafts share them, as
    # numbered chunks (draft_chunks) so that they are streamed in and out, never held whole
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    # sniffed from the bytes, never taken from the file name
    Column("media_type", String(127), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

draft_chunks = Table(
    "draft_chunks",
    metadata,
    Column("content_id", Integer, ForeignKey("draft_contents.id"), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

drafts = Table(
    "drafts",
    metadata,
    # version N of a plan's document: its bytes, who added it and why; the history record
    # with seq ``seq`` seals its digest onto the plan's chain
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_id", Integer, ForeignKey("draft_contents.id"), nullable=False),
    Column("file_name", String(255), nullable=False),
    # as sniffed for this upload (its name can make the same bytes text or Markdown)
    Column("media_type", String(127), nullable=False),
    Column("note", Text),
    Column("added_by", String(254)),
    Column("added_at", UTCDateTime, nullable=False),
    Column("seq", Integer, nullable=False),
    UniqueConstraint("plan_id", "version", name="uq_drafts_plan_id_version"),
)

site_grants = Table(
    "site_grants",
    metadata,
    # access not tied to one plan: admin (everything), auditor and reader (read only), for
    # every country ("*") or one (ISO alpha-3); one row per person, grant and country
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("grant", String(16), nullable=False),
    Column("country", String(3), nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    UniqueConstraint("person_id", "grant", "country", name="uq_site_grants_person_id"),
)

site_history = Table(
    "site_history",
    metadata,
    # the site ledger: changes to people and site grants, chained like a plan's history
    # (napflow.ledger.chain; the first record chains to "site"), append-only likewise
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("actor", String(254)),
    Column("comment", Text),
    Column("at", UTCDateTime, nullable=False),
    Column("payload", LedgerJSON()),
    Column("prev_hash", String(80), nullable=False),
    Column("hash", String(80), nullable=False),
)

timers = Table(
    "timers",
    metadata,
    # the transitions napflow fires by itself (a workflow's timer transitions): one row per
    # plan, trigger and stay in the state (entered_seq: the record that sent it there),
    # kept in step with the plan by every change to it; the scheduler fires a due one in
    # the transaction that records the transition, once, whatever the number of daemons
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("entered_seq", Integer, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    # pending, fired, refused (its conditions did not hold then) or cancelled (the plan
    # left the state, or the deadline it waited for ended)
    Column("status", String(16), nullable=False),
    Column("ended_at", UTCDateTime),
    # why it was refused, in English
    Column("note", Text),
    UniqueConstraint("plan_id", "trigger", "entered_seq", name="uq_timers_plan_id"),
    # the timers due next (the scheduler's query)
    Index("ix_timers_status_due_at", "status", "due_at"),
)

workflow_versions = Table(
    "workflow_versions",
    metadata,
    # each workflow version napflow has used: its file's text as it was, so a plan pinned to
    # it keeps its states, rules and words after the file changes; sealed on the site ledger
    # (kind workflow_stored, with the digest) in the transaction that stores it; append-only
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    # SHA-256 of the source's bytes (UTF-8)
    Column("digest", String(64), nullable=False),
    Column("source", Text, nullable=False),
    # the file it was read from (mail templates are looked for next to it)
    Column("path", Text, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    # the site ledger record that seals it
    Column("seq", Integer, nullable=False),
    UniqueConstraint("name", "version", name="uq_workflow_versions_name"),
)

verifications = Table(
    "verifications",
    metadata,
    # every verification of the ledger that was run, and what it found (napflow.services.
    # audit); append-only like the ledger: the history of the checks is evidence too
    Column("id", Integer, primary_key=True),
    Column("ran_at", UTCDateTime, nullable=False),
    # who ran it: a person (the web app, the API), or NULL for the operator (the CLI)
    Column("ran_by", String(254)),
    # only the records added since each chain's verified head (else every record re-hashed)
    Column("incremental", Boolean, nullable=False),
    # the plans it covered: "*" (every plan and the site ledger) or countries, "KGZ,TJK"
    Column("scope", Text, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("plans", Integer, nullable=False),
    # the records it hashed (for an incremental run: those added since)
    Column("records", Integer, nullable=False),
    Column("site_records", Integer, nullable=False),
    Column("not_judged", Integer, nullable=False),
    # the digest over the chain heads it reached (the one `audit verify` prints)
    Column("head", String(80), nullable=False),
    # the newest history and site_history ids when it began: what it had to cover
    Column("history_id", Integer, nullable=False),
    Column("site_id", Integer, nullable=False),
    # what it found: [[plan, seq, kind, detail], ...] in English, as the CLI names them
    Column("problems", JSON, nullable=False),
)

verified_heads = Table(
    "verified_heads",
    metadata,
    # where a verification left each chain it moved: the record up to which the chain was
    # found intact (seq 0: a full verification found it broken, so nothing of it counts as
    # verified). A chain's verified head is its row of the newest verification.
    Column("verification_id", Integer, ForeignKey("verifications.id"), primary_key=True),
    # a plan's key, or "site ledger"
    Column("chain", String(32), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(80), nullable=False),
    # how many records up to seq are actions: the plan's version there
    Column("actions", Integer, nullable=False),
    Index("ix_verified_heads_chain", "chain", "verification_id"),
)


class Status:
    """Statuses of deadlines and outbox rows."""

    PENDING = "pending"  # deadline not yet met; message waiting to be sent
    MET = "met"
    CANCELLED = "cancelled"
    SENDING = "sending"  # claimed by a dispatcher
    SENT = "sent"
    FAILED = "failed"  # permanently: the server refused it
    HELD = "held"  # due, kept for its reader's daily digest (napflow.services._digest)
