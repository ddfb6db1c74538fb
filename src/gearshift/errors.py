"""The one exception tree of gearshift.

Every error a user can cause or meet derives from :class:`GearshiftError`, carries a one-line
``message`` and an optional ``hint`` saying what to do, and is mapped once, at the boundary where
it arises (file parsers, the database, providers). The CLI prints ``message`` and ``hint`` and
exits non-zero; only ``--debug`` shows a traceback.

::

    GearshiftError
    ├── ConfigError                 bad option, config file or environment value
    │   ├── PriceFileError          a price file that fails validation
    │   ├── DefinitionError         an agent, rules, pipeline or workload file that fails validation
    │   └── UnknownModel            a model id or alias the catalog does not know
    ├── LedgerError                 the ledger cannot be opened, migrated, read or written
    │   ├── LedgerLocked            another writer held the ledger for longer than the wait
    │   └── LedgerConflict          PostgreSQL aborted a transaction to break a deadlock: retry it
    ├── IngestError                 transcripts that cannot be read (or bad lines, with --strict)
    ├── BudgetExceeded              a reservation that a blocking budget refuses
    ├── PromptTooLong               a request no model it may go to has the context window for
    ├── ValidationFailed            an output that failed its validator (used by strategies)
    └── ProviderError               a model call that failed; ``retryable`` says if a retry may help
        ├── RateLimited             429; ``retry_after`` seconds when the server said so
        ├── Overloaded              529 / 5xx
        ├── ProviderTimeout         no answer in time, or the connection dropped
        │   └── ResponseDropped     a 200 whose body broke off: made, and billed, by the provider
        ├── AuthError               401 / 403, or no key
        ├── BadRequest              400 / 404 / 413: the request itself is wrong
        └── SpendLimit              the provider's own spend limit: never retried
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadRequest",
    "BudgetExceeded",
    "ConfigError",
    "DefinitionError",
    "GearshiftError",
    "IngestError",
    "LedgerConflict",
    "LedgerError",
    "LedgerLocked",
    "Overloaded",
    "PriceFileError",
    "PromptTooLong",
    "ProviderError",
    "ProviderTimeout",
    "RateLimited",
    "ResponseDropped",
    "SpendLimit",
    "UnknownModel",
    "ValidationFailed",
]


class GearshiftError(Exception):
    """Base of every error gearshift raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(GearshiftError):
    """An option, environment variable or configuration file has a value that cannot work."""

    exit_code = 2


class PriceFileError(ConfigError):
    """A price file that is not valid TOML or fails validation."""


class DefinitionError(ConfigError):
    """An agent definition, rules, pipeline or workload file that fails validation."""


class UnknownModel(ConfigError):
    """A model id or alias that the price catalog does not know."""


class LedgerError(GearshiftError):
    """The ledger could not be opened, migrated, read or written."""


class LedgerLocked(LedgerError):
    """Another writer held the (SQLite) ledger for longer than this command would wait."""


class LedgerConflict(LedgerError):
    """PostgreSQL aborted the transaction to break a deadlock (SQLSTATE 40P01) or a
    serialization conflict (40001): running it again from the start may succeed."""


class IngestError(GearshiftError):
    """A transcript source that cannot be read."""


class BudgetExceeded(GearshiftError):
    """A budget with the ``block`` action refused a reservation."""

    exit_code = 3


class PromptTooLong(GearshiftError):
    """A request larger than the context window of every model it may go to; never sent."""


class ValidationFailed(GearshiftError):
    """An output failed its validator; ``evidence`` says why, for the next attempt."""

    def __init__(self, message: str, *, evidence: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.evidence = evidence


class ProviderError(GearshiftError):
    """A model call failed. ``retryable`` tells the one retry loop whether to try again."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.request_id = request_id


class RateLimited(ProviderError):
    """HTTP 429. ``retry_after`` is the server's advice in seconds, when it gave one."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        status: int | None = 429,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, status=status, request_id=request_id)
        self.retry_after = retry_after


class Overloaded(ProviderError):
    """HTTP 529 or another 5xx: the provider is busy; safe to retry."""

    retryable = True


class ProviderTimeout(ProviderError):
    """The call timed out or its connection dropped."""

    retryable = True


class ResponseDropped(ProviderTimeout):
    """A response that started (HTTP 200) and broke off before its end: the provider made it and
    bills it. ``usage`` is what arrived of its usage, in the API's shape (a stream's
    ``message_start`` says the input tokens), or ``None`` when none did."""

    def __init__(
        self,
        message: str,
        *,
        usage: dict[str, object] | None = None,
        hint: str | None = None,
        status: int | None = 200,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, status=status, request_id=request_id)
        self.usage = usage


class AuthError(ProviderError):
    """The credentials are missing or refused."""


class BadRequest(ProviderError):
    """The request itself is wrong (400/404/413); retrying cannot help."""


class SpendLimit(ProviderError):
    """The provider's own workspace spend limit was reached; never retried."""
