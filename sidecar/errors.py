"""The errors the history core raises, named as in the contract's error table.

They carry no JSON-RPC codes: the server looks each class name up in the contract
(`protocol.ERROR_CODES`), so the storage core stays free of wire concerns.
"""

from __future__ import annotations

import attrs


class HistoryError(Exception):
    """Base of every error a caller may be shown; the class name is the contract's name."""

    def __init__(self, message: str, data: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


@attrs.frozen
class Problem:
    """One thing wrong with a request's params: where, and what was expected."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidParams(HistoryError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            "; ".join(str(p) for p in problems),
            {"field": problems[0].field, "problems": [attrs.asdict(p) for p in problems]},
        )
        self.problems = problems


def invalid(field: str, message: str) -> InvalidParams:
    return InvalidParams([Problem(field, message)])


class SessionNotFound(HistoryError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session has the id {session_id!r}", {"sessionId": session_id})


class MessageNotFound(HistoryError):
    def __init__(self, message_id: str, session_id: str) -> None:
        super().__init__(
            f"no message has the id {message_id!r} in session {session_id!r}",
            {"messageId": message_id, "sessionId": session_id},
        )


class PayloadTooLarge(HistoryError):
    pass


class StorageBusy(HistoryError):
    pass


class StorageError(HistoryError):
    pass


class RequestCancelled(HistoryError):
    pass
