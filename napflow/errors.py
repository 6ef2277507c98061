"""The one error hierarchy of napflow.

Every error a user can meet is a :class:`NapflowError` whose message is a full sentence
saying what was tried, why it was refused and what is allowed now. Interfaces map the two
families to exit codes (CLI) or HTTP statuses (API):

* :class:`RefusedError` (exit 1): the request was well formed but the rules refuse it
  (not allowed, a condition unmet, a conflict, an unknown plan or person).
* :class:`InputError` (exit 2): the request itself is malformed (a bad date, time zone,
  e-mail address, workflow file or configuration).

Besides the message for people, an error carries what a program needs to act on it (the
reasons of a refusal and what is allowed now, the version a conflict found, what was not
found): :meth:`NapflowError.data` returns it as JSON values, and the interfaces pass it on
(the API as problem+json extension members, the CLI's ``--format json`` on stderr). The
names of these members never clash with ``type``, ``title``, ``status``, ``detail``,
``code``, ``kind`` or ``message``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from napflow.i18n import SOURCE, current_locale, format_list


def either(values: Sequence[str]) -> str:
    """Join ``values`` as alternatives, in the reader's language: "a or b" ("a или b").

    English keeps napflow's own form (every value joined by "or"); another language joins
    them as its grammar does (Babel's lists: "a, b или c").
    """
    if len(values) < 2 or current_locale() == SOURCE:
        return " or ".join(values)
    return format_list(values, style="or")


def _listed(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


class NapflowError(Exception):
    """Base of every error napflow reports to a person."""

    exit_code: ClassVar[int] = 1
    #: a short name of the kind of error, for programs (``not_allowed``, ``conflict``, ...)
    kind: ClassVar[str] = "error"
    #: the attributes :meth:`data` reports, in this order
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def data(self) -> dict[str, Any]:
        """Return what the error carries besides its message, as JSON values.

        Members that are not known (None) are left out; an empty list is kept, as it says
        something (``allowed: []``: nothing is allowed now).
        """
        found: dict[str, Any] = {}
        for name in self.fields:
            value = getattr(self, name, None)
            if value is not None:
                found[name] = list(value) if isinstance(value, tuple | list) else value
        return found


class RefusedError(NapflowError):
    """The rules refuse the request; nothing was written."""

    exit_code = 1
    kind = "refused"


class NotFoundError(RefusedError):
    """A plan, person or workflow named in the request does not exist.

    ``missing`` says what was looked for (``plan``, ``person``, ``deadline``, ``api_token``)
    and ``key`` by what it was named (a plan key, an e-mail address, an id).
    """

    kind = "not_found"
    fields = ("missing", "key")

    def __init__(
        self, message: str, *, missing: str | None = None, key: str | int | None = None
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.key = key


class NotAllowedError(RefusedError):
    """The trigger cannot fire now: wrong state, wrong role or an unmet condition.

    ``reasons`` are every unmet condition or role rule, ``allowed`` the triggers the actor
    may fire now (empty: nothing), ``state`` the plan's state, ``key`` the plan's.
    """

    kind = "not_allowed"
    fields = ("key", "trigger", "actor", "state", "reasons", "allowed")

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        trigger: str | None = None,
        actor: str | None = None,
        state: str | None = None,
        reasons: Iterable[str] | None = None,
        allowed: Iterable[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.trigger = trigger
        self.actor = actor
        self.state = state
        self.reasons = _listed(reasons)
        self.allowed = _listed(allowed)


class ConflictError(RefusedError):
    """Someone else changed the plan since the caller read it (optimistic concurrency).

    Where a version comparison is the cause, ``expected_version`` is the version the caller
    read and ``found_version`` (and ``state``) where the plan is now; where a newer draft
    is the cause, ``expected_draft`` is the draft the caller read and ``found_draft`` the
    plan's current one.
    """

    kind = "conflict"
    fields = ("key", "expected_version", "found_version", "state", "expected_draft", "found_draft")

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        expected_version: int | None = None,
        found_version: int | None = None,
        state: str | None = None,
        expected_draft: int | None = None,
        found_draft: int | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.expected_version = expected_version
        self.found_version = found_version
        self.state = state
        self.expected_draft = expected_draft
        self.found_draft = found_draft


class InputError(NapflowError):
    """The request is malformed: a value is not of the accepted form."""

    exit_code = 2
    kind = "invalid_input"


class ConfigError(InputError):
    """config.toml or a NAPFLOW_* environment variable is invalid."""

    kind = "config"


class InvalidDefinition(InputError):
    """A workflow file is invalid; ``problems`` lists every problem found, one per line."""

    kind = "invalid_definition"
    fields = ("problems",)

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class NotAuthenticatedError(RefusedError):
    """No valid login, session or API token came with the request."""

    kind = "not_authenticated"


class RateLimitedError(RefusedError):
    """Too many failed logins for one account: refused for a while, even a right password."""

    kind = "rate_limited"
