"""Logging for a stdio server: stderr for people, `window/logMessage` for the editor.

Errors the contract expects (SessionNotFound, bad params, …) are answered to the client
and are not worth a traceback on stderr; pygls would log each one, so they are filtered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

INTERNAL_ERROR = -32603
LEVELS = {
    logging.ERROR: lsp.MessageType.Error,
    logging.WARNING: lsp.MessageType.Warning,
    logging.INFO: lsp.MessageType.Info,
}


class AnsweredErrorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, JsonRpcException) and error.code != INTERNAL_ERROR)


class ClientLogHandler(logging.Handler):
    """Forward our own warnings and errors to the editor as `window/logMessage`."""

    def __init__(self, server: Any, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self.server = server
        self.loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        kind = LEVELS.get(record.levelno, lsp.MessageType.Log)
        params = lsp.LogMessageParams(type=kind, message=f"agent-history: {record.getMessage()}")
        with contextlib.suppress(RuntimeError):  # the loop has closed: stderr has it
            self.loop.call_soon_threadsafe(self.server.window_log_message, params)


def install(server: Any, loop: asyncio.AbstractEventLoop) -> None:
    logging.getLogger("pygls.protocol.json_rpc").addFilter(AnsweredErrorFilter())
    logging.getLogger("sidecar").addHandler(ClientLogHandler(server, loop))
