"""LSP-framed JSON-RPC over stdio, read with asyncio and answered even when malformed.

pygls' own stdin loop hops threads per message and drops what it cannot parse without a
reply. This reader runs on the event loop, and gives every broken frame a JSON-RPC error
(-32700 for bytes that are not JSON, -32600 for JSON that is not a request) naming the
request's id whenever it can be read, so a client is never left waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import stat
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

# Refused before its body is read, which is discarded as it arrives: the largest request
# one client can make us hold (its parsed form takes a few times as much).
MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_HEADER_LINE = 64 * 1024
ErrorSender = Callable[[Any, int, str], None]


class FrameError(Exception):
    def __init__(self, code: int, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


def claim_stdout() -> BinaryIO:
    """Keep the real stdout for protocol frames; send fd 1 (stray prints, C libraries) to stderr."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return protocol_out


FLUSH_SECONDS = 0.4  # at exit, how long output the client has not read yet may wait (exit stays under 1 s)
# Replies and notifications the client has not read yet, past which no new request is read
# (back-pressure): what one client can make us hold stays bounded.
BACKLOG_BYTES = 4 * 1024 * 1024


class _DrainSignal(asyncio.Protocol):
    """Set while the transport's buffer is empty (write buffer limits of 0)."""

    def __init__(self) -> None:
        self.drained = asyncio.Event()
        self.drained.set()

    def pause_writing(self) -> None:
        self.drained.clear()

    def resume_writing(self) -> None:
        self.drained.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.drained.set()


class PipeWriter:
    """Frames out through the event loop's pipe transport: a write never blocks.

    A blocking write to a full pipe would stop the loop, and with it the reading of stdin;
    a client that writes a large request before it reads our replies would then wait for
    us while we wait for it. The transport writes at once when the pipe has room and keeps
    the rest until it has.
    """

    def __init__(self, transport: asyncio.WriteTransport, signal: _DrainSignal) -> None:
        self.transport = transport
        self.signal = signal

    def write(self, data: bytes) -> None:
        if not self.transport.is_closing():  # late log lines after close go to stderr only
            self.transport.write(data)

    def congested(self) -> bool:
        return self.transport.get_write_buffer_size() > BACKLOG_BYTES

    async def drained(self) -> None:
        await self.signal.drained.wait()

    async def close(self) -> None:
        """Deliver what is still buffered (for a bounded time), then close."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.signal.drained.wait(), FLUSH_SECONDS)
        self.transport.close()


class FileWriter:
    """Frames out to a regular file (`serve > replies`): a write never waits on a reader."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def write(self, data: bytes) -> None:
        if not self.file.closed:
            self.file.write(data)

    def congested(self) -> bool:
        return False

    async def drained(self) -> None:
        return None

    async def close(self) -> None:
        self.file.close()


Writer = PipeWriter | FileWriter
PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged process


def widen_pipe(file: BinaryIO) -> None:
    """Let a pipe hold a whole large reply (a getContext of 50 long messages is ~100 KB):
    with the default 64 KB, it goes out in pieces, each waiting for the client to read."""
    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux only
        with contextlib.suppress(OSError):
            fcntl.fcntl(file.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


async def open_stdout(protocol_out: BinaryIO) -> Writer:
    loop = asyncio.get_running_loop()
    widen_pipe(protocol_out)
    try:
        transport, signal = await loop.connect_write_pipe(_DrainSignal, protocol_out)
    except ValueError:  # a regular file (`serve > replies`): writing to it never waits on a reader
        return FileWriter(protocol_out)
    transport.set_write_buffer_limits(high=0)  # so the signal tells when everything is out
    return PipeWriter(transport, signal)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body: bytes) -> dict[str, Any]:
    """A frame's body as a JSON-RPC message object, or FrameError saying what is wrong."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        raise FrameError(
            -32700, f"parse error: the body is not valid UTF-8 ({error.reason} at byte {error.start})"
        ) from None
    except RecursionError:
        raise FrameError(-32700, "parse error: the JSON is nested too deeply") from None
    except ValueError as error:
        raise FrameError(-32700, f"parse error: {error}") from None
    if not isinstance(data, dict):
        kind = "a batch (array)" if isinstance(data, list) else type(data).__name__
        raise FrameError(-32600, f"invalid request: expected a JSON-RPC object, got {kind}")
    request_id = data.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int, type(None))):
        raise FrameError(-32600, "invalid request: id must be a string, a number or null")
    if data.get("jsonrpc") != "2.0":
        raise FrameError(-32600, 'invalid request: "jsonrpc" must be "2.0"', request_id)
    is_response = "method" not in data and ("result" in data or "error" in data)
    if not is_response:
        if not isinstance(data.get("method"), str):
            raise FrameError(-32600, "invalid request: method must be a string", request_id)
        params = data.get("params")
        if params is not None and not isinstance(params, (dict, list)):
            raise FrameError(-32600, "invalid request: params must be an object or an array", request_id)
        # pygls never answers a request without params: give it an explicit null.
        data.setdefault("params", None)
    return data


class FrameReader:
    """stdin as a StreamReader, with bytes read too far handed back (`unread`)."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream
        self.pushed = b""

    def unread(self, data: bytes) -> None:
        self.pushed = data + self.pushed

    async def readline(self) -> bytes:
        """One line with its b"\\n"; IncompleteReadError at end of input."""
        head, newline, rest = self.pushed.partition(b"\n")
        if newline:
            self.pushed = rest
            return head + newline
        self.pushed = b""
        try:
            return head + await self.stream.readuntil(b"\n")
        except asyncio.LimitOverrunError as error:
            await self.stream.readexactly(error.consumed)  # skip it, or it is read again for ever
            raise FrameError(-32600, "invalid request: a header line is too long") from None

    async def readexactly(self, count: int) -> bytes:
        head, self.pushed = self.pushed[:count], self.pushed[count:]
        return head + await self.stream.readexactly(count - len(head))

    async def read(self, count: int) -> bytes:
        if self.pushed:
            head, self.pushed = self.pushed[:count], self.pushed[count:]
            return head
        return await self.stream.read(count)


async def _read_headers(reader: FrameReader) -> int | None:
    """Read one header block; the Content-Length, or None at end of input."""
    length: int | None = None
    seen_any = False
    while True:
        try:
            line = await reader.readline()
        except asyncio.IncompleteReadError:
            return None
        text = line.strip()
        if not text:
            if not seen_any:
                continue  # stray blank line between frames
            if length is None:
                raise FrameError(-32600, "invalid request: the frame has no Content-Length header")
            return length
        seen_any = True
        name, _, value = text.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise FrameError(-32600, f"invalid request: bad Content-Length {value.strip()!r}") from None
            if length < 0:
                raise FrameError(-32600, "invalid request: negative Content-Length")


# A JSON body never holds a header line: JSON has no such token, and a string cannot hold
# a raw line break. Where one turns up inside an oversized frame, the body was shorter than
# announced and the next frame begins there.
NEXT_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*[0-9]+[ \t]*\r?\n", re.IGNORECASE)
HEADER_SPAN = 64  # kept from one chunk to the next, so a header split between them is seen
SKIP_CHUNK = 1 << 20


async def _skip_body(reader: FrameReader, count: int) -> bool:
    """Discard an oversized body a chunk at a time; False if input ended first."""
    tail = b""
    while count > 0:
        chunk = await reader.read(min(count, SKIP_CHUNK))
        if not chunk:
            return False
        count -= len(chunk)
        window = tail + chunk
        if (found := NEXT_HEADER.search(window)) is not None:
            reader.unread(window[found.start() :])
            return True
        tail = window[-HEADER_SPAN:]
    return True


async def read_frames(
    stream: asyncio.StreamReader,
    handle: Callable[[dict[str, Any]], None],
    send_error: ErrorSender,
    ready: Callable[[], Awaitable[None]],
) -> None:
    """Read frames until end of input, handing each well-formed message to `handle`.

    `ready` is awaited before each frame: while it waits, nothing more is read, the pipe
    fills and the client's writes block (back-pressure).
    """
    reader = FrameReader(stream)
    while True:
        await ready()
        try:
            length = await _read_headers(reader)
        except FrameError as error:
            send_error(None, error.code, error.message)
            continue
        if length is None:
            return
        if length > MAX_FRAME_BYTES:
            send_error(None, -32003, f"payload too large: a {length}-byte frame is over {MAX_FRAME_BYTES} bytes")
            if not await _skip_body(reader, length):
                return
            continue
        try:
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return
        try:
            message = parse_body(body)
        except FrameError as error:
            send_error(error.request_id, error.code, error.message)
            continue
        handle(message)


async def open_stdin() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_HEADER_LINE)
    if _watchable(sys.stdin.buffer):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    else:
        # A regular file (`serve < requests`) or a device such as /dev/null cannot be watched
        # by the loop: read it in a thread.
        transport = _FileTransport()
        reader.set_transport(transport)
        # A daemon: at exit it may be paused mid-file, and nothing waits for it.
        pump = threading.Thread(target=transport.pump, args=(sys.stdin.buffer, reader, loop), daemon=True)
        pump.start()
    return reader


def _watchable(stream: BinaryIO) -> bool:
    """A pipe, a socket or a terminal: what epoll can watch. The loop would accept any
    character device, but registering /dev/null fails (EPERM) after connecting, in a
    callback whose error the loop only logs: the sidecar then waited for input forever."""
    mode = os.fstat(stream.fileno()).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stream.isatty()


class _FileTransport(asyncio.ReadTransport):
    """Feeds a regular file to a StreamReader from a thread, pausing while the reader's
    buffer is full as a pipe would: without it, the whole file would be held in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.flowing = threading.Event()  # the thread may read the next chunk

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        self.flowing.set()

    def pump(self, source: BinaryIO, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        while chunk := source.read(1 << 16):
            self.flowing.clear()
            loop.call_soon_threadsafe(self._feed, reader, chunk)
            self.flowing.wait()
        loop.call_soon_threadsafe(reader.feed_eof)

    def _feed(self, reader: asyncio.StreamReader, chunk: bytes) -> None:
        reader.feed_data(chunk)  # calls pause_reading when its buffer is full
        if not self.paused:
            self.flowing.set()
