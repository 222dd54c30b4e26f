"""The one exception tree of duecast.

    DuecastError
    ├── ConfigurationError      a setting or a command-line value is unusable
    ├── DataImportError         files that cannot be imported (carries every bad row)
    ├── MappingError            a column-mapping file that cannot be applied
    ├── StoreError              the database is missing, unreachable or out of date
    │   └── CustomerUnavailableError  one customer's stored rows cannot be served
    ├── LeakageError            a feature would use information from after its snapshot
    ├── ModelNotFoundError      no trained / promoted model where one is needed
    │   └── BundleError         a bundle that is there but corrupt or inconsistent
    ├── InsufficientDataError   the history is too thin to train a model on
    ├── UnknownEntityError      a customer or invoice id the store does not hold
    ├── InvalidRequestError     a request that is well-formed but cannot be carried out
    └── ConflictError           a write that contradicts one already made

Messages say what was expected and what to do about it. Only the API turns them
into HTTP errors, and only the CLI into exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BadRow",
    "BundleError",
    "ConfigurationError",
    "ConflictError",
    "CustomerUnavailableError",
    "DataImportError",
    "DuecastError",
    "InsufficientDataError",
    "InvalidRequestError",
    "LeakageError",
    "MappingError",
    "ModelNotFoundError",
    "StoreError",
    "UnknownEntityError",
]


class DuecastError(Exception):
    """Base class of every error duecast raises on purpose."""


class ConfigurationError(DuecastError):
    """A setting or option has a value duecast cannot use."""


class MappingError(DuecastError):
    """A column-mapping file is malformed or does not fit the files it maps."""


class StoreError(DuecastError):
    """The database cannot be reached or its schema is not what this version expects."""


class CustomerUnavailableError(StoreError):
    """One customer cannot be served (e.g. a stored date pandas cannot read); others can."""


class LeakageError(DuecastError):
    """A feature computation would read events dated on or after its snapshot."""


class ModelNotFoundError(DuecastError):
    """A model, run or bundle that a command needs does not exist yet."""


class BundleError(ModelNotFoundError):
    """A model bundle that exists but cannot be used: a file whose hash does not match,
    unreadable model text, a feature list that does not match the feature spec."""


class InsufficientDataError(DuecastError):
    """The history holds too few invoices with a known outcome to train on."""


class UnknownEntityError(DuecastError):
    """A customer, invoice or other id is not in the store."""


class InvalidRequestError(DuecastError):
    """A request that parses but cannot be carried out (e.g. a payment of another customer)."""


class ConflictError(DuecastError):
    """A write contradicting an earlier one (e.g. an Idempotency-Key reused with another body)."""


@dataclass(frozen=True)
class BadRow:
    """One rejected row: file, 1-based line in that file (header = line 1), column, reason."""

    file: str
    line: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        col = f" [{self.column}]" if self.column else ""
        return f"{where}{col}: {self.reason}"


class DataImportError(DuecastError):
    """Files that cannot be imported; `bad_rows` lists every problem found (up to a cap)."""

    def __init__(self, message: str, bad_rows: list[BadRow] | None = None, total: int = 0):
        self.bad_rows = list(bad_rows or [])
        self.total = max(total, len(self.bad_rows))
        super().__init__(message)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.bad_rows:
            return head
        lines = [head, *(f"  {row}" for row in self.bad_rows)]
        if self.total > len(self.bad_rows):
            lines.append(f"  ... and {self.total - len(self.bad_rows)} more")
        return "\n".join(lines)
