"""What one dispatch pass reads once for the many messages it composes.

A pass lasts seconds; a plan changed meanwhile by another process is shown as it was when
the pass began, like any message composed a moment before it is sent.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from napflow.errors import NapflowError
from napflow.i18n import current_locale
from napflow.notifications.mailer import Attachment, Rendered
from napflow.runtime import Runtime
from napflow.services._plan_facts import actions_for, plan_facts
from napflow.services.drafts import DraftDiff, DraftView, diff_drafts, find_draft, read_draft
from napflow.storage.schema import people, plans, roles
from napflow.workflow.definition import WorkflowDefinition
from napflow.workflow.facts import PlanFacts

#: the longest texts (in words) a draft mail summarises what changed in
MAIL_COMPARE_WORDS = 20_000
#: how many drafts' bytes a dispatch pass keeps for the next messages attaching them
_FILES_KEPT = 2
#: how many distinct rendered mails a pass keeps (a batch is mostly a few events' mails)
_RENDERED_KEPT = 32


@dataclass(frozen=True)
class Reader:
    """Someone a mail is to or names: their name, zone and language (None: not chosen)."""

    email: str
    name: str
    timezone: str | None = None
    locale: str | None = None
    #: false for an address napflow has no person for (its name is then unknown)
    known: bool = True


_PEOPLE = select(people.c.email, people.c.name, people.c.timezone, people.c.locale)


def _reader(row: Any) -> Reader:
    return Reader(row.email, row.name, row.timezone, row.locale)


@dataclass(frozen=True)
class Contact:
    """A role holder a mail names as someone to ask: their name, address and role."""

    name: str
    email: str
    role: str


def _contacts(conn: Connection, plan_id: int, wanted: tuple[str, ...]) -> list[Contact]:
    if not wanted:
        return []
    rows = conn.execute(
        select(people.c.name, people.c.email, roles.c.role)
        .join(roles, roles.c.person_id == people.c.id)
        .where(
            roles.c.plan_id == plan_id,
            roles.c.role.in_(wanted),
            people.c.deactivated_at.is_(None),
        )
        .order_by(people.c.email)
    )
    return [Contact(r.name, r.email, r.role) for r in rows]


class PassCache:
    """The plans, people, facts and drafts one dispatch pass has read."""

    def __init__(self) -> None:
        self._plans: dict[int, Any] = {}
        self._contacts: dict[int, list[Contact]] = {}
        self._facts: dict[int, PlanFacts] = {}
        self._people: dict[str, Reader] = {}
        #: by plan, versions and language (a diff's reason is written in its reader's)
        self._diffs: dict[tuple[str, int, int, str], DraftDiff | None] = {}
        #: the drafts' bytes of the last few messages only (a pass may mail many plans)
        self._files: OrderedDict[tuple[str, int], Attachment | None] = OrderedDict()
        self._drafts: dict[tuple[str, int], DraftView | None] = {}
        #: the last distinct mails rendered, their reader's name a stand-in (_messages)
        self._rendered: OrderedDict[tuple[str, str, str, str], Rendered] = OrderedDict()

    def prefetch(self, rt: Runtime, emails: set[str]) -> None:
        """Read the names, zones and languages of a batch's recipients in one query."""
        with rt.db.read() as conn:
            rows = conn.execute(_PEOPLE.where(people.c.email.in_(sorted(emails))))
            self._people.update({r.email: _reader(r) for r in rows})

    def person(self, conn: Connection, email: str) -> Reader:
        """Return the person with address ``email`` (unknown: a Reader named by it)."""
        if email not in self._people:
            row = conn.execute(_PEOPLE.where(people.c.email == email)).first()
            self._people[email] = _reader(row) if row else Reader(email, email, known=False)
        return self._people[email]

    def plan(self, conn: Connection, plan_id: int) -> Any:
        """Return the plan row."""
        if plan_id not in self._plans:
            self._plans[plan_id] = conn.execute(select(plans).where(plans.c.id == plan_id)).one()
        return self._plans[plan_id]

    def contacts(
        self, conn: Connection, plan_id: int, definition: WorkflowDefinition
    ) -> list[Contact]:
        """Return the holders of the roles the plan's workflow names as its contacts."""
        if plan_id not in self._contacts:
            self._contacts[plan_id] = _contacts(conn, plan_id, definition.contact_roles)
        return self._contacts[plan_id]

    def allowed(self, conn: Connection, rt: Runtime, plan: Any, email: str) -> list[str]:
        """Return the triggers ``email`` may fire on the plan now."""
        engine = rt.catalog.engine(plan.workflow, plan.workflow_version)
        facts = self._facts.get(plan.id)
        if facts is None:
            facts = self._facts[plan.id] = plan_facts(conn, engine, plan)
        return actions_for(engine, facts, email)

    def diff(self, rt: Runtime, key: str, old: int, new: int) -> DraftDiff | None:
        """Return what changed from draft ``old`` to ``new`` (None: a draft is missing).

        Texts of more than MAIL_COMPARE_WORDS words are not compared here (the web's
        comparison page does): the time grows with the square of the words changed, and
        the dispatcher must not hold a batch of reminders for it.
        """
        found = (key, old, new, current_locale())
        if found not in self._diffs:
            try:
                self._diffs[found] = diff_drafts(rt, key, old, new, max_words=MAIL_COMPARE_WORDS)
            except NapflowError:  # gone, or its bytes were changed: the mail says less
                self._diffs[found] = None
        return self._diffs[found]

    def draft(self, rt: Runtime, key: str, version: int) -> DraftView | None:
        """Return draft ``version`` of plan ``key`` (None: there is no such draft)."""
        if (key, version) not in self._drafts:
            try:
                self._drafts[key, version] = find_draft(rt, key, version)
            except NapflowError:
                self._drafts[key, version] = None
        return self._drafts[key, version]

    def rendering(self, key: tuple[str, str, str, str]) -> Rendered | None:
        """Return the mail rendered under ``key`` this pass, if it is still kept."""
        found = self._rendered.get(key)
        if found is not None:
            self._rendered.move_to_end(key)
        return found

    def keep_rendering(self, key: tuple[str, str, str, str], rendered: Rendered) -> None:
        """Keep ``rendered`` for the next readers of the same mail (the last few only)."""
        self._rendered[key] = rendered
        while len(self._rendered) > _RENDERED_KEPT:
            self._rendered.popitem(last=False)

    def file(self, rt: Runtime, key: str, version: int) -> Attachment | None:
        """Return draft ``version`` to attach, if it is no larger than the mail limit.

        Bytes that no longer match their sealed digest are not sent (the link is).
        """
        if (key, version) in self._files:
            self._files.move_to_end((key, version))
        else:
            found = self.draft(rt, key, version)
            self._files[key, version] = _attachment(rt, found) if found else None
            while len(self._files) > _FILES_KEPT:
                self._files.popitem(last=False)
        return self._files[key, version]


def _attachment(rt: Runtime, found: DraftView) -> Attachment | None:
    if found.size > rt.settings.mail_attach_max_mb << 20:
        return None
    try:
        _found, chunks = read_draft(rt, found.plan, found.version)
        return Attachment(found.file_name, found.media_type, b"".join(chunks))
    except NapflowError:  # its bytes no longer match the sealed digest: not sent
        return None
