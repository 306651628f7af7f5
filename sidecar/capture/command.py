"""`agent-history watch [PATH…]`: live capture from a terminal or a user service.

The same capture a sidecar runs (and the same lock: while a sidecar captures into this
database, the command waits its turn), with the search index kept current, a bar while
it catches up, and a line per captured batch.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ..errors import HistoryError
from ..search.index import Indexer
from ..store import Settings, Store
from ..store.captures import CapturedFile
from ..store.encryption import load_key
from ..store.imports import ImportOutcome
from .folders import followed_agents
from .watcher import Capture, CaptureConfig

EXIT_OK, EXIT_USAGE, EXIT_STORAGE = 0, 2, 4
err = Console(stderr=True, highlight=False, soft_wrap=True)  # a path is never cut in two


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    db_argument: Callable[[argparse.ArgumentParser], None],
) -> None:
    watch = commands.add_parser(
        "watch",
        help="capture the agents' transcripts as they are written, until interrupted",
        description="Follow folders of transcripts (default: the agents' own, where they exist: Claude Code's"
        " $CLAUDE_CONFIG_DIR/projects or ~/.claude/projects, Codex's $CODEX_HOME/sessions or ~/.codex/sessions,"
        " Copilot CLI's, Gemini CLI's, Cline's, Roo Code's, Kilo Code's, Continue's, Copilot Chat's, Cursor's agent"
        " transcripts) and import what they write as they write it. One process per database captures; others wait.",
    )
    watch.add_argument("paths", metavar="PATH", nargs="*", type=Path, help="folders to follow instead")
    db_argument(watch)
    watch.add_argument(
        "--polling", action="store_true", help="poll instead of waiting for file events (default: events)"
    )


def watch(args: argparse.Namespace, db_path: Path) -> int:
    logging.basicConfig(level="WARNING", format="agent-history watch %(levelname)s: %(message)s")
    found = [path for path in followed_agents().values() if path.is_dir()]
    roots = [path.expanduser() for path in args.paths] or found
    if not roots:
        err.print("[red]error:[/red] no transcript folder to follow: name one (none of the agents' own exists)")
        return EXIT_USAGE
    try:
        key = load_key()
        store = Store(db_path, settings=Settings(encryption_key=key))
    except HistoryError as error:
        err.print(f"[red]error:[/red] {escape(error.message)}")
        return EXIT_STORAGE
    indexer = Indexer(db_path, key)
    capture = Capture(
        store,
        CaptureConfig.from_environment(roots, True if args.polling else None),
        on_written=lambda outcomes, files: _report(indexer, outcomes, files),
        on_progress=_catch_up_bar(),
    )
    err.print(f"watching {', '.join(escape(str(root)) for root in roots)} into {escape(str(db_path))} (Ctrl-C stops)")
    _stop_on_signals(capture)
    try:
        capture.run()  # here: the store's connection stays on this thread
    finally:
        indexer.stop()
        store.close()
    return EXIT_OK


def _report(indexer: Indexer, outcomes: list[ImportOutcome], files: list[CapturedFile]) -> None:
    indexer.wake()
    for outcome in outcomes:
        if outcome.added:
            session = outcome.session
            err.print(
                f"+{outcome.added} messages: {escape(session.title or session.id)} ({session.message_count} in all)"
            )
    for file in files:
        if file.skipped_lines:
            err.print(f"[yellow]{escape(file.path)}: {file.skipped_lines} malformed lines skipped[/yellow]")


def _catch_up_bar() -> Callable[[int, int], None]:
    state: dict[str, Progress] = {}

    def report(done: int, total: int) -> None:
        if not err.is_terminal or total == 0:
            return
        if done == 0:
            columns = (TextColumn("catching up"), BarColumn(), MofNCompleteColumn(), TextColumn("files"))
            state["bar"] = Progress(*columns, console=err, transient=True)
            state["bar"].start()
            state["bar"].add_task("catching up", total=total)
        elif "bar" in state:
            state["bar"].update(state["bar"].task_ids[0], completed=done)
            if done == total:
                state.pop("bar").stop()

    return report


def _stop_on_signals(capture: Capture) -> None:
    def stop(number: int, frame: FrameType | None) -> None:
        capture.stop()

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, stop)
