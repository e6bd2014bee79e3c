"""What the directory's use cases refuse with; the JSON API turns each into its status code."""

from __future__ import annotations


class NotFound(LookupError):
    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} not found")


class Invalid(ValueError):
    """A request that is well-formed but refers to something that does not exist."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Conflict(ValueError):
    pass
