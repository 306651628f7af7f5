"""Following folders of transcripts: what the agents write flows into the history.

One thread per process. It takes the database's capture lock (or tries again every
RETRY_SECONDS while another process holds it), catches up with the files that changed
while nothing watched (size and mtime against what was recorded), then reads each file
as events say it changed (follow.py: a tail reads what a log gained, a document is read
again whole). A message that later rows may still add to (a Claude Code answer written
block by block) is written once the next message starts, and a document once it is whole,
when the file has been quiet for `hold_seconds`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any, TypeVar

import attrs
import watchfiles

from .. import protocol as p
from ..errors import HistoryError
from ..store import Store
from ..store.captures import CapturedFile, captured_files, record_captured
from ..store.imports import (
    EncodedSession,
    ImportedSession,
    ImportOutcome,
    encode_session,
    prepare_bands_for,
    write_sessions,
)
from ..transcripts.importer import WRITE_BATCH, is_subagent
from .folders import agent_folders
from .follow import Follower, followed, follower
from .lock import capture_lock

log = logging.getLogger(__name__)
T = TypeVar("T")

HOLD_SECONDS = 0.8
RETRY_SECONDS = 1.0
CATCH_UP_BATCH = 64  # files read before their messages are committed
STEP_MS = 20  # events are handed over once the folder is quiet this long…
DEBOUNCE_MS = 100  # …or after this long at the latest, while an agent keeps writing
POLL_DELAY_MS = 300
POLLING_ENV = "AGENT_HISTORY_CAPTURE_POLLING"
HOLD_ENV = "AGENT_HISTORY_CAPTURE_HOLD_SECONDS"
# Filesystems whose changes made on other machines raise no local events.
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "afs", "ceph", "glusterfs"}


@attrs.frozen
class CaptureConfig:
    roots: tuple[Path, ...]
    polling: bool | None = None  # None: polling only where events cannot be had
    hold_seconds: float = HOLD_SECONDS

    @classmethod
    def from_environment(cls, roots: Iterable[Path], polling: bool | None = None) -> CaptureConfig:
        if polling is None and os.environ.get(POLLING_ENV):
            polling = os.environ[POLLING_ENV] not in ("0", "false", "")
        return cls(tuple(roots), polling, float(os.environ.get(HOLD_ENV) or HOLD_SECONDS))

    @classmethod
    def from_options(cls, options: p.CaptureOptions) -> CaptureConfig:
        """The folders `initializationOptions.capture` names: the agents' default ones it
        leaves on, and its `paths`."""
        roots = [*agent_folders(options), *(Path(path).expanduser() for path in options.paths or [])]
        return cls.from_environment(dict.fromkeys(roots), options.polling)


def _run_here(step: Callable[[], T]) -> T:
    return step()


def _ignore(*args: Any) -> None:
    pass


Written = Callable[[list[ImportOutcome], list[CapturedFile]], object]


class Capture:
    """Capture into `store`. Its writes run through `run_step` (the server passes one that
    runs them on its database thread); `on_written` hears of each commit, `on_progress`
    of the catch-up (files done, files to read)."""

    def __init__(
        self,
        store: Store,
        config: CaptureConfig,
        *,
        run_step: Callable[[Callable[[], Any]], Any] = _run_here,
        on_written: Written = _ignore,
        on_progress: Callable[[int, int], None] = _ignore,
    ) -> None:
        self.store, self.config = store, config
        self.run_step, self.on_written, self.on_progress = run_step, on_written, on_progress
        self.lock = capture_lock(store.path)
        self.stopping = threading.Event()
        self.followers: dict[Path, Follower] = {}
        self.unsettled: dict[Follower, float] = {}  # changed, not yet written whole: since when quiet
        self.warned: set[Path] = set()
        self.live: set[Path] = set()  # grown while watched: likely to grow again, so kept
        self.retry: set[Path] = set()  # their write failed: read again from the start

    # -- lifetime ---------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self.run, name="agent-history-capture", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        """Capture until stopped: whenever this process holds the lock, else wait for it."""
        try:
            while not self.stopping.is_set():
                if self._lock_taken():
                    try:
                        self._capture()
                    except CancelledError:  # a write the closing server will not run
                        return
                    except Exception:  # a bug must not end capture for good
                        if self.stopping.is_set():
                            return  # the server is closing its database under us
                        log.exception("live capture failed; starting again")
                        self.followers.clear()
                        self.unsettled.clear()
                        self.live.clear()
                self.stopping.wait(RETRY_SECONDS)
        finally:
            self.lock.release()

    def _lock_taken(self) -> bool:
        try:
            return self.lock.try_acquire()
        except OSError as error:  # a database folder we may not write to
            log.warning("live capture is off: cannot open %s: %s", self.lock.path, error.strerror or error)
            self.stopping.set()
            return False

    def _capture(self) -> None:
        roots = [root for root in self.config.roots if root.is_dir()]
        if not roots:
            return
        self._catch_up(roots)
        polling = self.config.polling if self.config.polling is not None else any(map(_on_network, roots))
        log.info("capturing %s (%s)", ", ".join(map(str, roots)), "polling" if polling else "events")
        try:
            self._watch(roots, polling)
        except OSError as error:  # no events here (an inotify limit, say): poll instead
            if polling:
                raise
            log.warning("file events unavailable (%s); polling %s instead", error, ", ".join(map(str, roots)))
            self._watch(roots, True)

    def _watch(self, roots: list[Path], polling: bool) -> None:
        tick_ms = POLL_DELAY_MS if polling else max(50, int(self.config.hold_seconds * 1000 / 2))
        changes_seen = False
        for changes in watchfiles.watch(
            *roots,
            watch_filter=None,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self.stopping,
            rust_timeout=tick_ms,
            yield_on_timeout=True,
            force_polling=polling,
            poll_delay_ms=POLL_DELAY_MS,
            raise_interrupt=False,
        ):
            if not changes_seen:  # what changed between the catch-up and the watch's start
                changes_seen = True
                self._read_grown(self._changed_files(roots))
            changed = self._changed(changes)
            if polling:  # the poller sees a file change at most once a second (its mtime in seconds)
                changed = _parents_first({*changed, *self._grown_live()})
            self.live.update(changed)
            retry, self.retry = _parents_first(self.retry), set()
            self._read_grown(retry + changed)
            self._settle_quiet()

    # -- reading ----------------------------------------------------------------------

    def _catch_up(self, roots: list[Path]) -> None:
        """Read the files that changed since they were last read (in batches: a commit per
        batch, not per file)."""
        changed = self._changed_files(roots)
        self.on_progress(0, len(changed))
        for start in range(0, len(changed), CATCH_UP_BATCH):
            if self.stopping.is_set():
                return
            self._read_grown(changed[start : start + CATCH_UP_BATCH])
            self.on_progress(min(start + CATCH_UP_BATCH, len(changed)), len(changed))

    def _changed_files(self, roots: list[Path]) -> list[Path]:
        """Files whose size or mtime differ from when this process (or else any) last read them."""
        recorded = self.run_step(functools.partial(captured_files, self.store.db))
        changed = []
        for path in self._files(roots):
            tail = self.followers.get(path)
            last = tail.seen if tail is not None else recorded.get(str(path))
            if _changed_since(path, last):
                changed.append(path)
        return changed

    def _files(self, roots: list[Path]) -> list[Path]:
        found = {file for root in roots for path in root.rglob("*") if (file := followed(path)) is not None}
        return _parents_first(found)

    def _changed(self, changes: set[tuple[watchfiles.Change, str]]) -> list[Path]:
        paths: list[Path] = []
        for change, name in changes:
            path = Path(name)
            if change is watchfiles.Change.deleted:
                self._forget(path)  # what we captured of it stays
            elif (file := followed(path)) is not None:
                paths.append(file)
            elif change is watchfiles.Change.added and path.is_dir():
                # Files made in a new folder before its watch was set up raise no event.
                paths += [file for found in path.rglob("*") if (file := followed(found)) is not None]
        return _parents_first(set(paths))

    def _grown_live(self) -> list[Path]:
        grown = []
        for path in self.live:
            tail = self.followers.get(path)
            with contextlib.suppress(OSError):
                info = os.stat(path)
                if tail is None or (info.st_size, info.st_mtime_ns) != tail.seen:
                    grown.append(path)
        return grown

    def _read_grown(self, paths: list[Path]) -> None:
        """Read what each file gained, and write the messages that are complete."""
        grown = []
        for path in paths:
            try:
                tail = self._follower(path)
                if tail is not None and tail.read_new():
                    grown.append(tail)
            except FileNotFoundError:  # deleted as we read it: not an error
                self._forget(path)
            except OSError as error:
                self._warn(path, error)
        now = time.monotonic()
        self.unsettled.update((tail, now) for tail in grown)
        self._write(grown, settled=False)

    def _follower(self, path: Path) -> Follower | None:
        """The file's follower, made at its first sight; None for a file gone, of a format
        not followed, or that does not say its format yet."""
        tail = self.followers.get(path)
        if tail is None and path.is_file() and (tail := follower(path)) is not None:
            self.followers[path] = tail
        return None if tail is None or tail.not_ours else tail

    def _settle_quiet(self) -> None:
        """Write the messages held back in files quiet for hold_seconds, and record the files."""
        deadline = time.monotonic() - self.config.hold_seconds
        quiet = [tail for tail, since in self.unsettled.items() if since <= deadline]
        for tail in quiet:
            del self.unsettled[tail]
        self._write(quiet, settled=True)
        for tail in quiet:
            if tail.path not in self.live:  # read only to catch up: its reader can go
                self.followers.pop(tail.path, None)

    def _forget(self, path: Path) -> None:
        tail = self.followers.pop(path, None)
        if tail is not None:
            self.unsettled.pop(tail, None)

    def _warn(self, path: Path, error: OSError) -> None:
        if path not in self.warned:
            self.warned.add(path)
            log.warning("cannot read %s: %s", path, error.strerror or error)

    # -- writing ----------------------------------------------------------------------

    def _write(self, tails: list[Follower], *, settled: bool) -> None:
        batch: list[EncodedSession] = []
        files: list[CapturedFile] = []
        sources: list[Follower] = []
        for tail in tails:
            sessions = tail.take(settled=settled)
            batch += [self._encoded(session) for session in sessions]
            record = tail.record() if settled else None
            if record is not None:
                files.append(record)
            if sessions or record is not None:
                sources.append(tail)
            if sum(len(encoded.rows) for encoded in batch) >= WRITE_BATCH:
                self._commit(batch, [], sources)
                batch, sources = [], []
        if batch or files:
            self._commit(batch, files, sources)

    def _encoded(self, session: ImportedSession) -> EncodedSession:
        encoded = encode_session(self.store.settings, session)
        # The reader never reads a written message again: keep only what it looks at, or a
        # long session would be held in memory twice.
        for message in session.messages:
            message.message = p.MessageInput(role=message.message.role, agent_name=message.message.agent_name)
        return encoded

    def _commit(self, batch: list[EncodedSession], files: list[CapturedFile], sources: list[Follower]) -> None:
        try:
            outcomes = self.run_step(functools.partial(_write_captured, self.store, batch, files))
        except HistoryError as error:
            # Read again from the start: the import keys keep what was written once.
            log.warning("capture could not write: %s; reading those files again", error.message)
            for tail in sources:
                self._forget(tail.path)
                self.retry.add(tail.path)
            return
        self.on_written(outcomes, files)


def _write_captured(store: Store, batch: list[EncodedSession], files: list[CapturedFile]) -> list[ImportOutcome]:
    """One transaction: the messages and the record of the files they came from."""
    with store.db.write():
        prepare_bands_for(store.db, batch)
        outcomes = write_sessions(store, batch)
        for file in files:
            record_captured(store.db, file)
    return outcomes


def _changed_since(path: Path, last: CapturedFile | tuple[int, int] | None) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    if isinstance(last, CapturedFile):
        last = (last.size, last.mtime_ns)
    return last != (info.st_size, info.st_mtime_ns)


def _parents_first(paths: Iterable[Path]) -> list[Path]:
    """Sub-agent files after the sessions they belong to, so their parent is there to join."""
    return sorted(paths, key=lambda path: (is_subagent(path), str(path)))


def _on_network(root: Path) -> bool:
    """Whether `root` is on a network filesystem (Linux's mount table; elsewhere, no)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return False
    resolved, best, kind = str(root.resolve()), "", ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3 or len(fields[1]) <= len(best):
            continue
        if resolved == fields[1] or resolved.startswith(fields[1].rstrip("/") + "/"):
            best, kind = fields[1], fields[2]
    return kind in NETWORK_FILESYSTEMS
