"""The one error hierarchy of napflow.

Every error a user can meet is a :class:`NapflowError` whose message is a full sentence
saying what was tried, why it was refused and what is allowed now. Interfaces map the two
families to exit codes (CLI) or HTTP statuses (API):

* :class:`RefusedError` (exit 1): the request was well formed but the rules refuse it
  (not allowed, a condition unmet, a conflict, an unknown plan or person).
* :class:`InputError` (exit 2): the request itself is malformed (a bad date, time zone,
  e-mail address, workflow file or configuration).
"""

from __future__ import annotations


class NapflowError(Exception):
    """Base of every error napflow reports to a person."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class RefusedError(NapflowError):
    """The rules refuse the request; nothing was written."""

    exit_code = 1


class NotFoundError(RefusedError):
    """A plan, person or workflow named in the request does not exist."""


class NotAllowedError(RefusedError):
    """The trigger cannot fire now: wrong state, wrong role or an unmet condition."""


class ConflictError(RefusedError):
    """Someone else changed the plan since the caller read it (optimistic concurrency)."""


class InputError(NapflowError):
    """The request is malformed: a value is not of the accepted form."""

    exit_code = 2


class ConfigError(InputError):
    """config.toml or a NAPFLOW_* environment variable is invalid."""


class InvalidDefinition(InputError):
    """A workflow file is invalid; ``problems`` lists every problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class NotAuthenticatedError(RefusedError):
    """No valid login, session or API token came with the request."""


class RateLimitedError(RefusedError):
    """Too many failed logins for one account: refused for a while, even a right password."""
