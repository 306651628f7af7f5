"""The stdio server: structure params, call the storage core, shape results, notify.

Every request method of the contract maps to one core operation in OPERATIONS. Database
work runs on one dedicated thread (a Connection must not be shared between threads), so
the event loop keeps reading frames, `$/cancelRequest` reaches a long request, and EOF or
the editor's death is noticed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import os
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
import orjson
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    LanguageServerProtocol,
    default_converter,
    lsp_method,
)
from pygls.protocol.json_rpc import RPCRequest

from . import __version__, logs
from . import protocol as p
from .errors import HistoryError, InvalidParams, Problem, StorageError
from .flow import Flow
from .search import index as search_index
from .search import stats as search_stats
from .stdio import claim_stdout, open_stdin, open_stdout, read_frames
from .store import Settings, Store, Work, context, edits, export, housekeeping, messages, sessions, usage
from .store.changes import Change, MessagesAppended, changes_since, latest_change
from .store.database import Database
from .store.encryption import load_key
from .sync.client import SyncWorker
from .sync.config import sync_config
from .wire import structure_params, unstructure

if TYPE_CHECKING:  # capture (watchfiles, ~0.09 s to import) loads only when a client asks for it
    from .capture import Capture, CaptureConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


def import_transcript(store: Store, params: p.ImportTranscriptParams, work: Work) -> p.ImportTranscriptResult:
    """The importer and its eight readers, imported at the first import: 2.8 MB of every
    window's memory that most sidecars never use."""
    from .transcripts import importer

    return importer.import_transcript(store, params, work)


# The contract's requests, each answered by one storage-core operation.
OPERATIONS: dict[str, Callable[..., Any]] = {
    p.CREATE_SESSION: sessions.create_session,
    p.GET_SESSION: sessions.get_session,
    p.LIST_SESSIONS: sessions.list_sessions,
    p.UPDATE_SESSION: sessions.update_session,
    p.END_SESSION: sessions.end_session,
    p.DELETE_SESSION: sessions.delete_session,
    p.FORK_SESSION: sessions.fork_session,
    p.APPEND_MESSAGES: messages.append_messages,
    p.GET_MESSAGES: messages.get_messages,
    p.GET_CONTEXT: context.get_context,
    p.RECENT_PROMPTS: messages.recent_prompts,
    p.SEARCH_MESSAGES: search_index.search_messages,
    p.RECORD_EDIT: edits.record_edit,
    p.LIST_EDITS: edits.list_edits,
    p.REVERT_EDITS: edits.revert_edits,
    p.COMPACT_SESSION: context.compact_session,
    p.GET_USAGE: usage.get_usage,
    p.GET_METADATA: sessions.get_metadata,
    p.SET_METADATA: sessions.set_metadata,
    p.APPLY_RETENTION: housekeeping.apply_retention,
    p.STATS: search_stats.stats,
    p.EXPORT_SESSION: export.export_session,
    p.IMPORT_TRANSCRIPT: import_transcript,
}
# Methods that may commit: the change feed is read right after them.
WRITES = {
    p.CREATE_SESSION,
    p.UPDATE_SESSION,
    p.END_SESSION,
    p.DELETE_SESSION,
    p.FORK_SESSION,
    p.APPEND_MESSAGES,
    p.RECORD_EDIT,
    p.COMPACT_SESSION,
    p.SET_METADATA,
    p.APPLY_RETENTION,
    p.IMPORT_TRANSCRIPT,
}
# Operations that touch the store only through Work.on_database steps: they run on a
# thread of their own, and requests arriving meanwhile are answered between their steps
# (an append waited for a whole import: 4.9 s during one of 60,000 messages).
IN_STEPS = {p.IMPORT_TRANSCRIPT}
POLL_SECONDS = 0.2
# Another process's commit moves the file (its pages are written) an fsync before other
# processes can see it, so a read when the file moves may come too early, and nothing
# moves the file after: the change feed is read on every tick for this long after a move.
RECHECK_SECONDS = 2.0
# Changes loaded at a time: what waits for a client that does not read is at most one page
# (the rest waits in the database).
CHANGES_PAGE = 50
JSON_RPC_MEMBERS = {"jsonrpc", "id", "method", "params", "result", "error"}
PARENT_POLL_SECONDS = 0.25
PROGRESS_INTERVAL = 0.1
RETENTION_PERIOD = 24 * 3600
STOP_SECONDS = 0.5
INDEXER_EXIT_SECONDS = 2.0
# At end of input or `exit`, how long requests already read may take to be answered; past
# it they are cancelled (answered -32800, or with their result if they committed).
FINISH_SECONDS = 30.0
INTERNAL_ERROR = -32603


def rpc_error(error: HistoryError) -> JsonRpcException:
    return JsonRpcException(message=error.message, code=p.ERROR_CODES[type(error).__name__], data=error.data)


@attrs.define
class Subscription:
    """Which sessions this client hears about; both filters must match (None: any)."""

    project_id: str | None = None
    session_ids: frozenset[str] | None = None

    def matches(self, change: Change) -> bool:
        if self.project_id is not None and change.project_id != self.project_id:
            return False
        return self.session_ids is None or change.session_id in self.session_ids


def _keep_params_as_json(obj: dict[str, Any], cls: type[T]) -> T:
    # pygls would turn params of unknown methods into namedtuples; we structure them ourselves.
    return cls(**obj)


def rpc_converter() -> Any:
    """pygls' converter, but params and results of non-LSP methods stay plain JSON."""
    converter = default_converter()  # type: ignore[no-untyped-call]
    for message_type in (JsonRPCRequestMessage, JsonRPCNotification, JsonRPCResponseMessage):
        converter.register_structure_hook(message_type, _keep_params_as_json)
    return converter


def _plain_handler(bound: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """pygls marks handlers with attributes, which a bound method cannot carry."""
    if inspect.iscoroutinefunction(bound):

        async def handler(params: Any) -> Any:
            return await bound(params)

        return handler
    return lambda params: bound(params)


class HistoryProtocol(LanguageServerProtocol):
    _server: HistoryServer

    def write_json(self, **members: Any) -> None:
        """One frame of a JSON-RPC message whose members are plain JSON already.

        orjson encodes a getContext(50) result ~12x faster than json; what it refuses (a
        lone surrogate a client sent us, an integer past 64 bits) json escapes instead.
        """
        message = {"jsonrpc": "2.0", **members}
        try:
            body = orjson.dumps(message)
        except orjson.JSONEncodeError:
            body = json.dumps(message, separators=(",", ":")).encode()
        if self.writer is not None:
            self.writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        # Our results are plain JSON already: pygls would walk them again with cattrs
        # before encoding (~30% of a getContext(50) round trip).
        if error is None and isinstance(result, dict):
            self.write_json(id=msg_id, result=result)
        else:
            if error is not None and error.code == INTERNAL_ERROR:
                # pygls puts the traceback in `data`: it is in our log, not for the client.
                error = lsp.ResponseError(code=INTERNAL_ERROR, message=f"internal error: {error.message}")
            super()._send_response(msg_id, result, error)
        self._server.flow.answered()

    def notify(self, method: str, params: Any | None = None) -> None:
        if self._server.flow.may_notify():
            super().notify(method, params)

    def cancel_requests(self) -> None:
        for future in list(self._request_futures.values()):
            future.cancel()

    @lsp_method(lsp.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        self._server.exit()  # pygls' own would close stdout under replies not written yet
        yield from ()

    @lsp_method(lsp.INITIALIZE)
    def lsp_initialize(self, params: lsp.InitializeParams) -> Any:
        if self._server.store is not None:
            # A second one would start another indexer, or quietly switch databases.
            raise JsonRpcException(code=-32600, message="invalid request: the server is initialized already")
        result = yield from super().lsp_initialize(params)
        # Only our own capabilities: no documents to sync, no commands.
        result.capabilities = lsp.ServerCapabilities(
            experimental={"history": self._server.history_capabilities()},
        )
        return result


class HistoryServer(LanguageServer):
    protocol: HistoryProtocol

    def __init__(self, db_path: Path, *, capture: bool = False) -> None:
        super().__init__(
            "agent-history",
            __version__,
            text_document_sync_kind=lsp.TextDocumentSyncKind.None_,
            protocol_cls=HistoryProtocol,
            converter_factory=rpc_converter,
        )
        self.db_path = db_path
        self.store: Store | None = None
        self.db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-history-db")
        self.steps_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-history-steps")
        # The change feed is read on a connection and thread of its own: on the database
        # thread it waited behind this window's requests, and an append waiting there for
        # the write lock (four writers and a janitor) held other processes' commits unheard
        # for up to 2.4 s.
        self.feed_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-history-feed")
        self.feed: Database | None = None
        self.subscription = Subscription()
        self.change_cursor = 0
        self.pump_lock = asyncio.Lock()
        self.file_signature: tuple[int, ...] = ()
        self.recheck_until = 0.0
        self.active_work: set[Work] = set()
        self.indexer: search_index.Indexer | None = None
        self.sync_worker: SyncWorker | None = None
        self.capture_by_default = capture  # `serve --capture`
        self.capture: Capture | None = None
        self.background: set[asyncio.Task[Any]] = set()
        self.flow = Flow()
        self.shutdown_requested = False
        self.exit_code = 0
        self.reading: asyncio.Future[None] | None = None
        self._register()

    # -- plumbing ---------------------------------------------------------------------

    async def on_db(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db_thread, functools.partial(function, *args))

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def require_store(self) -> Store:
        if self.store is None:
            raise JsonRpcException(message="invalid request: send initialize first", code=-32600)
        return self.store

    def history_capabilities(self) -> dict[str, Any]:
        store = self.require_store()
        features = sorted([*OPERATIONS, p.SUBSCRIBE, *([p.SYNC] if self.sync_worker else [])])
        return {"dbPath": str(store.path), "schemaVersion": store.db.schema_version, "features": features}

    # -- requests ---------------------------------------------------------------------

    def _register(self) -> None:
        for method, operation in OPERATIONS.items():
            self.feature(method)(self._handler(p.REQUESTS[method], operation))
        for method, bound in (
            (p.SUBSCRIBE, self._subscribe),
            (p.SYNC, self._sync),
            (lsp.INITIALIZE, self._initialize),
            (lsp.SHUTDOWN, self._shutdown),
        ):
            self.feature(method)(_plain_handler(bound))

    def _handler(self, spec: p.RequestSpec, operation: Callable[..., Any]) -> Callable[..., Any]:
        takes_work = "work" in inspect.signature(operation).parameters

        async def handle(ls: HistoryServer, raw: Any) -> Any:
            try:
                params = structure_params(raw, spec.params) if spec.params is not None else None
                result = await ls._call(spec.method, operation, params, takes_work)
            except HistoryError as error:
                raise rpc_error(error) from None
            return unstructure(result)

        handle.__name__ = spec.method.replace("/", "_")
        return handle

    async def _call(self, method: str, operation: Callable[..., Any], params: Any, takes_work: bool) -> Any:
        """Run one core operation for a request, with progress and cancellation if it is long."""
        args: list[Any] = [self.require_store(), params]
        token = getattr(params, "work_done_token", None)
        work = self._start_work(method, token) if takes_work else None
        thread = self.db_thread
        if work is not None and method in IN_STEPS:
            work.on_database, thread = self._on_db_and_wait, self.steps_thread
        try:
            return await self._run_cancellable(thread, operation, [*args, work] if work else args, work)
        finally:
            if work is not None:
                self._end_work(work, token)
            if method in WRITES:
                self._after_write()

    def _after_write(self) -> None:
        """Announce, index and sync what may have just been committed."""
        self.spawn(self.pump_changes())
        if self.indexer is not None:
            self.indexer.wake()
        if self.sync_worker is not None:
            self.spawn(self.sync_worker.wake())

    def _on_db_and_wait(self, step: Callable[[], T]) -> T:
        """Run a step of an operation IN_STEPS on the database thread, after what is queued there."""
        return self.db_thread.submit(step).result()

    async def _run_cancellable(
        self, thread: ThreadPoolExecutor, operation: Callable[..., Any], args: list[Any], work: Work | None
    ) -> Any:
        """Run on `thread`. If the client cancels, a job that has not started is dropped, and
        a running one stops at its next checkpoint and rolls back; a job that already
        committed still answers with its result, so -32800 never hides a write."""
        submitted = thread.submit(functools.partial(operation, *args))
        job = asyncio.wrap_future(submitted)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            # The thread's own future refuses to cancel once running (asyncio's wrapper
            # would claim success while the job went on to commit).
            if submitted.cancel():
                raise
            if work is not None:
                work.cancel()
            return await job

    def _progress(self, token: Any, value: dict[str, Any]) -> None:
        if token is not None and not isinstance(token, bool) and isinstance(token, (str, int)):
            self.protocol.notify(lsp.PROGRESS, lsp.ProgressParams(token=token, value=value))

    def _start_work(self, method: str, token: Any) -> Work:
        """A Work for a long operation; progress goes out as `$/progress` under the client's token."""
        loop = asyncio.get_running_loop()
        last_report = [0.0]

        def report(done: int, total: int) -> None:  # called on the database thread
            moment = time.monotonic()
            if done < total and moment - last_report[0] < PROGRESS_INTERVAL:
                return
            last_report[0] = moment
            value = {"kind": "report", "message": f"{done}/{total}", "percentage": 100 * done // max(total, 1)}
            loop.call_soon_threadsafe(self._progress, token, value)

        self._progress(token, {"kind": "begin", "title": method, "cancellable": True, "percentage": 0})
        work = Work(report=report)
        self.active_work.add(work)
        return work

    def _end_work(self, work: Work, token: Any) -> None:
        self.active_work.discard(work)
        self._progress(token, {"kind": "end"})

    async def _subscribe(self, raw: Any) -> Any:
        try:
            params = structure_params(raw, p.SubscribeParams)
        except HistoryError as error:
            raise rpc_error(error) from None
        ids = None if params.session_ids is None else frozenset(params.session_ids)
        self.subscription = Subscription(params.project_id, ids)
        return {}

    async def _sync(self, raw: Any) -> Any:
        if self.sync_worker is None:
            raise JsonRpcException(
                code=-32600,
                message="invalid request: sync is not configured (initializationOptions.sync.url"
                " or $AGENT_HISTORY_SYNC_URL)",
            )
        reply = await self.sync_worker.sync()
        self.spawn(self.pump_changes())  # what was pulled, announced now rather than at the next poll
        if "error" in reply:
            raise JsonRpcException(message=reply["error"]["message"], code=p.ERROR_CODES[reply["error"]["name"]])
        return reply["result"]

    # -- lifecycle --------------------------------------------------------------------

    def _initialize(self, params: lsp.InitializeParams) -> None:
        # Synchronous on purpose: nothing else is handled until the store is open, and the
        # database thread has not touched the connection yet.
        try:
            options = structure_params(params.initialization_options, p.InitializationOptions)
        except InvalidParams as error:
            problems = [Problem(f"initializationOptions.{x.field}".rstrip("."), x.message) for x in error.problems]
            raise rpc_error(InvalidParams(problems)) from None
        path = Path(options.db_path).expanduser() if options.db_path else self.db_path
        settings = Settings(default_project_id=options.project_id, redact=options.redact)
        if options.max_message_bytes is not None:
            settings.max_message_bytes = options.max_message_bytes
        if options.busy_timeout_ms is not None:
            settings.busy_timeout_ms = options.busy_timeout_ms
        try:
            key_file = Path(options.encryption_key_file) if options.encryption_key_file else None
            settings.encryption_key = load_key(key_file)
            sync = sync_config(options.sync)
            if sync is not None and (settings.encryption_key or options.read_only):
                raise StorageError(
                    "sync cannot be combined with "
                    + (
                        "encryption at rest: the sync replica would hold the history unencrypted"
                        if settings.encryption_key
                        else "read-only mode: pulled messages must be written"
                    )
                )
            self.store = Store(path, read_only=options.read_only, settings=settings)
            self.feed = Database(
                path, read_only=True, busy_timeout_ms=settings.busy_timeout_ms, encryption_key=settings.encryption_key
            )
        except HistoryError as error:
            log.error("%s", error.message)
            raise rpc_error(error) from None
        self.change_cursor = latest_change(self.store.db)
        log.info("serving %s (schema %s)", path, self.store.db.schema_version)
        if options.search_index and not options.read_only:
            self.indexer = search_index.Indexer(path, settings.encryption_key)
        if sync is not None:
            self.sync_worker = SyncWorker(path, sync)
            self.spawn(self.sync_worker.wake())  # the first round, at start-up
        if params.process_id is not None:
            self.spawn(self._watch_parent(params.process_id))
        if options.retention is not None:
            self.spawn(self._retention_daily(options.retention))
        self.spawn(self._poll_changes())
        capture = options.capture or (p.CaptureOptions() if self.capture_by_default else None)
        if capture is not None and not options.read_only:
            from .capture import CaptureConfig

            self._start_capture(CaptureConfig.from_options(capture), params.work_done_token)

    def _start_capture(self, config: CaptureConfig, token: Any) -> None:
        """Follow the transcript folders on a thread of its own; its writes take their turn
        on the database thread, and are announced like any other."""
        loop = asyncio.get_running_loop()
        last_report = [0.0]

        def progress(done: int, total: int) -> None:  # called on the capture thread
            moment = time.monotonic()
            if total == 0 or (0 < done < total and moment - last_report[0] < PROGRESS_INTERVAL):
                return
            last_report[0] = moment
            title = f"agent-history: catching up with {total} transcript files"
            value: dict[str, Any] = {"kind": "report", "message": f"{done}/{total}", "percentage": 100 * done // total}
            if done == 0:
                value = {"kind": "begin", "title": title, "cancellable": False, "percentage": 0}
            elif done == total:
                value = {"kind": "end"}
            loop.call_soon_threadsafe(self._progress, token, value)

        from .capture import Capture

        self.capture = Capture(
            self.require_store(),
            config,
            run_step=self._on_db_and_wait,
            on_written=lambda outcomes, files: loop.call_soon_threadsafe(self._after_write),
            on_progress=progress,
        )
        self.capture.start()

    async def _shutdown(self, params: Any) -> None:
        # Requests read before it are answered first (pygls would cancel them).
        await self.flow.settle(FINISH_SECONDS, others=1)
        for task in list(self.background):
            task.cancel()
        if self.capture is not None:
            self.capture.stop()
        if self.indexer is not None:
            self.indexer.stop()
            # Done writing the index once shutdown is answered: the editor may remove the
            # folder, or start the next sidecar, whose indexer would wait for the lock.
            await asyncio.to_thread(self.indexer.wait, INDEXER_EXIT_SECONDS)
        if self.sync_worker is not None:
            self.sync_worker.stop()

    async def _watch_parent(self, pid: int) -> None:
        """Exit when the editor that started us is gone, even if it never closed our stdin."""
        while True:
            await asyncio.sleep(PARENT_POLL_SECONDS)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                log.warning("the client process %s is gone; exiting", pid)
                raise SystemExit(0) from None
            except PermissionError:
                pass  # alive, owned by someone else

    async def _retention_daily(self, policy: p.RetentionPolicy) -> None:
        params = p.ApplyRetentionParams(**attrs.asdict(policy, recurse=False))
        while True:
            try:
                result = await self.on_db(housekeeping.apply_retention, self.require_store(), params)
                log.info(
                    "retention deleted %s sessions, purged %s messages", result.deleted_sessions, result.purged_messages
                )
                await self.pump_changes()
            except HistoryError as error:
                log.warning("retention failed: %s", error.message)
            await asyncio.sleep(RETENTION_PERIOD)

    # -- notifications ----------------------------------------------------------------

    def _signature(self) -> tuple[int, ...]:
        store = self.require_store()
        signature: list[int] = []
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                info = os.stat(f"{store.path}{suffix}")
                signature += [info.st_size, info.st_mtime_ns]
        return tuple(signature)

    async def _poll_changes(self) -> None:
        """Notice commits by other processes: a stat per tick, a query only when the file
        moved or moved less than RECHECK_SECONDS ago."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                moved = self._signature() != self.file_signature
                if self.indexer is not None:
                    # Woken when the file moved (it also catches up on its own every quarter
                    # second); otherwise only checked: the database's indexer may have died with
                    # its sidecar, mid-catch-up, and this sidecar's turn may have come.
                    self.indexer.wake() if moved else self.indexer.keep_running()
                if moved or time.monotonic() < self.recheck_until:
                    await self.pump_changes()
            except Exception:  # a bug must not end the watch: every later commit would go unheard
                log.exception("reading other processes' commits failed; still watching")

    async def pump_changes(self) -> None:
        feed = self.feed
        if feed is None:
            return
        async with self.pump_lock:
            # Taken before reading: what is written after it shows as a new signature.
            signature = self._signature()
            if signature != self.file_signature:
                self.recheck_until = time.monotonic() + RECHECK_SECONDS
            self.file_signature = signature
            while True:
                await self.flow.writable()  # until the client reads, changes wait in the feed
                try:
                    cursor, changes = await asyncio.get_running_loop().run_in_executor(
                        self.feed_thread, changes_since, feed, self.change_cursor, CHANGES_PAGE
                    )
                except HistoryError as error:
                    log.warning("cannot read the change feed: %s", error.message)
                    return
                moved, self.change_cursor = cursor != self.change_cursor, cursor
                for change in changes:
                    if self.subscription.matches(change):
                        self._notify(change)
                if not moved:  # a page can hold no events for clients yet be followed by more
                    return

    def _notify(self, change: Change) -> None:
        params: p.DidAppendMessagesParams | p.DidChangeSessionParams
        if isinstance(change, MessagesAppended):
            method = p.DID_APPEND_MESSAGES
            params = p.DidAppendMessagesParams(session_id=change.session_id, messages=change.messages)
        else:
            method = p.DID_CHANGE_SESSION
            params = p.DidChangeSessionParams(
                session_id=change.session_id, change=change.change, session=change.session
            )
        self.protocol.write_json(method=method, params=unstructure(params))

    # -- frames -----------------------------------------------------------------------

    def receive(self, data: dict[str, Any]) -> None:
        # Members JSON-RPC does not define are ignored (pygls would reject the message).
        data = {key: value for key, value in data.items() if key in JSON_RPC_MEMBERS}
        is_request = "id" in data and "method" in data
        if is_request and self.shutdown_requested:
            # pygls would drop it without a word; LSP says InvalidRequest.
            self.send_error(data["id"], -32600, "invalid request: the server is shutting down (only exit is accepted)")
            return
        try:
            message = self.protocol.structure_message(data)
        except JsonRpcException:
            if is_request:
                self.send_error(data["id"], -32600, f"invalid request: {data['method']} cannot be read")
            return
        if isinstance(message, RPCRequest):  # as pygls tells one
            self.flow.received()  # answered in HistoryProtocol._send_response
            if data["method"] == lsp.SHUTDOWN:
                self.shutdown_requested = True
        self.protocol.handle_message(message)

    def send_error(self, request_id: Any, code: int, message: str) -> None:
        # Written as a plain object: pygls would drop a null id, which JSON-RPC requires
        # when the request's id could not be read.
        self.protocol.write_json(id=request_id, error={"code": code, "message": message})

    async def serve_stdio(self) -> None:
        logs.install(self, asyncio.get_running_loop())
        writer = self.flow.writer = await open_stdout(claim_stdout())
        self.protocol.set_writer(cast(Any, writer))
        self.reading = asyncio.ensure_future(
            read_frames(await open_stdin(), self.receive, self.send_error, self.flow.ready)
        )
        await asyncio.wait({self.reading})
        if not self.reading.cancelled():
            self.reading.result()  # a bug in reading is not a clean end
            log.info("stdin closed; exiting")
        await self._finish_requests()
        await writer.close()  # a pipe's writer first delivers what is still buffered

    def exit(self) -> None:
        """`exit`: stop reading, then end as at end of input, replies first (the shutdown
        reply may still be unwritten when exit arrives right behind it)."""
        self.exit_code = 0 if self.shutdown_requested else 1
        if self.reading is not None:
            self.reading.cancel()

    async def _finish_requests(self) -> None:
        """Answer every request already read; past FINISH_SECONDS, cancel what is left."""
        if await self.flow.settle(FINISH_SECONDS):
            return
        log.warning("%d requests unanswered after %s s; cancelling them", self.flow.unanswered, FINISH_SECONDS)
        self.protocol.cancel_requests()
        for work in self.active_work:
            work.cancel()
        await self.flow.settle(STOP_SECONDS)

    def stop(self) -> None:
        """Cancel running work and close the store, waiting at most STOP_SECONDS for a long job.

        Whatever is cut short was never committed; every commit is already fsynced.
        """
        for work in self.active_work:
            work.cancel()
        if self.capture is not None:
            self.capture.stop()
        if self.indexer is not None:
            self.indexer.stop()
        if self.sync_worker is not None:
            self.sync_worker.stop()
        if self.store is not None:
            closing = self.db_thread.submit(self.store.close)
            with contextlib.suppress(Exception):
                closing.result(timeout=STOP_SECONDS)
        if self.feed is not None:
            with contextlib.suppress(Exception):
                self.feed_thread.submit(self.feed.close).result(timeout=STOP_SECONDS)
        for thread in (self.db_thread, self.steps_thread, self.feed_thread):
            thread.shutdown(wait=False, cancel_futures=True)


def serve(db_path: Path, *, capture: bool = False) -> int:
    server = HistoryServer(db_path, capture=capture)
    code = 0
    try:
        asyncio.run(server.serve_stdio())
        code = server.exit_code
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        code = 130
    except StorageError as error:
        log.error("%s", error.message)
        code = 1
    finally:
        server.stop()
    return code
