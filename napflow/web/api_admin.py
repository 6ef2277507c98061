"""The API's administration: people and site access (administrators only), and the audit.

Each change is made as the caller, who must hold the admin site grant (403 otherwise, with
the reason); the services check it and seal the change on the site ledger with the
caller's address. A site grant is taken away with ``POST /access/revoke``, with the same
body as ``POST /access`` that gives it.

The audit's verification (administrators and auditors, over the plans they audit): the
last one stored, and a new one, full or incremental, as ``napflow audit verify`` runs it.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field

from napflow import services
from napflow.services.access import GRANTS
from napflow.web.api_common import Caller, CommentRequest, Cursor, Limit, Page, page_of, rt_of

PEOPLE: list[str | Enum] = ["people"]
ACCESS: list[str | Enum] = ["access"]
AUDIT: list[str | Enum] = ["audit"]
router = APIRouter()


class Person(BaseModel):
    """A registered person."""

    email: str
    name: str
    timezone: str | None = Field(description="Their own zone; null: each plan's.")
    deactivated_at: datetime | None = Field(description="When they left; null while active.")
    active: bool
    locale: str | None = Field(
        default=None, description="The language of their pages and mail; null: the browser's."
    )
    digest: str | None = Field(
        default=None, description='"daily": one mail a day; null: each message as it happens.'
    )

    @classmethod
    def of(cls, person: services.PersonView) -> Person:
        """Return the answer for a person as the services give them."""
        return cls(
            email=person.email,
            name=person.name,
            timezone=person.timezone,
            deactivated_at=person.deactivated_at,
            active=person.active,
            locale=person.locale,
            digest=person.digest,
        )


class PersonPage(Page[Person]):
    """One page of people, by e-mail address."""


class AddPersonRequest(BaseModel):
    """A person to register, who can then be given roles and grants."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "m.karimova@mfa.tj.example",
                    "name": "Malika Karimova (Ministry of Foreign Affairs)",
                    "timezone": "Asia/Dushanbe",
                }
            ]
        }
    )

    email: str = Field(max_length=320)
    name: str = Field(max_length=1000)
    timezone: str | None = Field(
        default=None, max_length=200, description="IANA zone for their reminders."
    )
    locale: str | None = Field(
        default=None, max_length=35, description="The language of their pages and mail, e.g. ru."
    )


class EditPersonRequest(BaseModel):
    """A person's new name, time zone, address, language or mail; what is left out stays."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Malika Karimova (MFA)", "timezone": "Europe/Vienna"}]
        }
    )

    name: str | None = Field(default=None, max_length=1000)
    timezone: str | None = Field(
        default=None, max_length=200, description='A new zone; "" to follow each plan\'s.'
    )
    email: str | None = Field(default=None, max_length=320, description="A new address.")
    locale: str | None = Field(
        default=None, max_length=35, description='A language, e.g. ru; "" for the browser\'s.'
    )
    digest: str | None = Field(
        default=None, max_length=10, description='"daily" (one mail a day) or "none".'
    )


class AccessRequest(BaseModel):
    """A site grant to give or take: admin (everything), auditor or reader (read only)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "auditor@osce.example",
                    "grant": "auditor",
                    "countries": ["TJK", "KGZ"],
                    "comment": "Audit of the 2026 round.",
                }
            ]
        }
    )

    email: str = Field(max_length=320)
    grant: str = Field(max_length=100, description=f"One of {', '.join(GRANTS)}.")
    countries: list[Annotated[str, Field(max_length=100)]] = Field(
        default=[],
        max_length=300,
        description="ISO 3166-1 alpha-3 codes; none: every country (admin: always none).",
    )
    comment: str | None = Field(default=None, max_length=100_000)


class AccessPage(Page[services.access.AccessView]):
    """One page of site grants, by person, grant and country."""


@router.get("/people", response_model=PersonPage, summary="People", tags=PEOPLE)
def list_people(
    request: Request, who: Caller, limit: Limit = 100, cursor: Cursor = None
) -> Page[Person]:
    """Everyone registered, by e-mail address (administrators only)."""
    found = [Person.of(p) for p in services.list_people(rt_of(request), who)]
    return page_of(
        found,
        listing="people",
        position=lambda p: (p.email,),
        shape=(str,),
        limit=limit,
        cursor=cursor,
    )


@router.post("/people", response_model=Person, status_code=201, summary="Add a person", tags=PEOPLE)
def add_person(request: Request, who: Caller, body: AddPersonRequest) -> Person:
    """Register a person (administrators only)."""
    return Person.of(
        services.add_person(
            rt_of(request), body.email, body.name, body.timezone, body.locale, actor=who
        )
    )


@router.get("/people/{email}", response_model=Person, summary="One person", tags=PEOPLE)
def show_person(request: Request, who: Caller, email: str) -> Person:
    """One person (administrators, or the person themselves)."""
    return Person.of(services.people.show_person(rt_of(request), email, actor=who))


@router.patch("/people/{email}", response_model=Person, summary="Edit a person", tags=PEOPLE)
def edit_person(request: Request, who: Caller, email: str, body: EditPersonRequest) -> Person:
    """Change a person's name, time zone or e-mail address (administrators only)."""
    return Person.of(
        services.people.edit_person(
            rt_of(request),
            email,
            name=body.name,
            timezone=body.timezone,
            new_email=body.email,
            locale=body.locale,
            digest=body.digest,
            actor=who,
        )
    )


@router.post(
    "/people/{email}/deactivate",
    response_model=Person,
    summary="Deactivate a person",
    tags=PEOPLE,
)
def deactivate_person(
    request: Request,
    who: Caller,
    email: str,
    body: Annotated[CommentRequest | None, Body()] = None,
) -> Person:
    """Let a person leave (administrators only).

    Their sessions and API tokens end now; logins, actions and reminders stop.
    """
    comment = body.comment if body is not None else None
    return Person.of(services.people.deactivate_person(rt_of(request), email, who, comment))


@router.post(
    "/people/{email}/activate", response_model=Person, summary="Activate a person", tags=PEOPLE
)
def activate_person(
    request: Request,
    who: Caller,
    email: str,
    body: Annotated[CommentRequest | None, Body()] = None,
) -> Person:
    """Let a deactivated person log in, act and be reminded again (administrators only).

    Their old API tokens stay ended.
    """
    comment = body.comment if body is not None else None
    return Person.of(services.people.activate_person(rt_of(request), email, who, comment))


@router.get("/access", response_model=AccessPage, summary="Site access", tags=ACCESS)
def list_access(
    request: Request, who: Caller, limit: Limit = 100, cursor: Cursor = None
) -> Page[services.access.AccessView]:
    """Every site grant, by person, grant and country (administrators only)."""
    rank = {grant: n for n, grant in enumerate(GRANTS)}
    return page_of(
        services.access.list_access(rt_of(request), who),
        listing="access",
        position=lambda a: (a.email, rank.get(a.grant, len(rank)), a.country),
        shape=(str, int, str),
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/access",
    response_model=services.access.AccessChange,
    summary="Grant site access",
    tags=ACCESS,
)
def grant_access(
    request: Request, who: Caller, body: AccessRequest
) -> services.access.AccessChange:
    """Give a person a site grant (administrators only).

    For every country, or the ones named; ``changed`` lists the countries newly granted
    (empty: held already).
    """
    return services.access.grant_access(
        rt_of(request), body.email, body.grant, body.countries, who, body.comment
    )


@router.post(
    "/access/revoke",
    response_model=services.access.AccessChange,
    summary="Revoke site access",
    tags=ACCESS,
)
def revoke_access(
    request: Request, who: Caller, body: AccessRequest
) -> services.access.AccessChange:
    """Take a site grant from a person (administrators only).

    Every country's, or the ones named; 404 if they hold none of it.
    """
    return services.access.revoke_access(
        rt_of(request), body.email, body.grant, body.countries, who, body.comment
    )


class VerifyRequest(BaseModel):
    """A verification to run now, of what the caller audits."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"full": False}]})

    full: bool = Field(
        default=True,
        description="true: hash every record and draft again; false: only the records "
        "added since the last verification, each chain linked to the head verified then.",
    )


class ProblemFound(BaseModel):
    """One thing a verification found wrong, as `napflow audit verify` names it."""

    plan: str = Field(description='The plan\'s key, or "site ledger".')
    seq: int | None = Field(description="The record's seq; null: the plan as a whole.")
    kind: str = Field(description="edited, missing, reordered, forged, changed or unauthorized.")
    detail: str


class Verification(BaseModel):
    """A verification of the ledger: when, by whom, what it covered, what it found."""

    id: int | None = Field(
        description="Its number among the stored verifications; null: it could not be stored."
    )
    ran_at: datetime = Field(description="When it began (UTC).")
    ran_by: str | None = Field(description="Who ran it; null: the operator (the command line).")
    incremental: bool = Field(
        description="Only what was added since each chain's verified head was checked."
    )
    countries: list[str] | None = Field(
        description="The countries whose plans it covered; null: every plan and the site ledger."
    )
    ok: bool
    plans: int
    records: int = Field(description="Plan records hashed (incremental: those added since).")
    site_records: int = Field(description="Site ledger records hashed, likewise.")
    head: str = Field(description="The digest over the chain heads it reached.")
    problems: list[ProblemFound]
    summary: str = Field(description="The line `napflow audit verify` ends with.")
    not_stored: str | None = Field(
        default=None, description="Why it could not be stored, if so (a read-only database)."
    )

    @classmethod
    def of(cls, found: services.audit.Verification) -> Verification:
        """Return the answer for a verification as the services give it."""
        report = found.report
        return cls(
            id=found.id,
            ran_at=found.ran_at,
            ran_by=found.ran_by,
            incremental=found.incremental,
            countries=list(found.countries) if found.countries is not None else None,
            ok=report.ok,
            plans=report.plans,
            records=report.records,
            site_records=report.site_records,
            head=report.head,
            problems=[
                ProblemFound(plan=p.plan, seq=p.seq, kind=p.kind, detail=p.detail)
                for p in report.problems
            ],
            summary=report.summary(),
            not_stored=found.not_stored,
        )


@router.get(
    "/audit/verification",
    response_model=Verification,
    summary="The last verification",
    tags=AUDIT,
)
def last_verification(request: Request, who: Caller) -> Verification:
    """Return the last verification stored of what the caller audits (admins and auditors).

    404 if none was run yet. Runs nothing: POST runs one.
    """
    return Verification.of(services.audit.last_verification(rt_of(request), who))


@router.post(
    "/audit/verification",
    response_model=Verification,
    summary="Verify the ledger",
    tags=AUDIT,
)
def verify(
    request: Request, who: Caller, body: Annotated[VerifyRequest | None, Body()] = None
) -> Verification:
    """Verify what the caller audits now, store the result and return it.

    Administrators and auditors; an auditor of some countries, those countries' plans.
    Full unless ``full`` is false (then only the records added since the last verification).
    """
    full = body.full if body is not None else True
    return Verification.of(
        services.audit.verify_and_record(rt_of(request), who, incremental=not full)
    )
