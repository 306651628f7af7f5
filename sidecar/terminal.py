"""The human command line: the same storage core as the sidecar, without JSON-RPC.

Every command takes its arguments through the contract's params types (so the same
validation applies), prints a readable table, or `--json` for scripts (the contract's
result, as the sidecar would send it).

Exit codes: 0 done; 1 nothing found (`search` with no hits, as grep); 2 bad usage or
invalid arguments; 3 no such session; 4 storage busy or unusable.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import protocol as p
from .cli import add_sync_arguments, apply_sync_arguments
from .errors import HistoryError, InvalidParams, SessionNotFound, invalid
from .search import index as search
from .store import Settings, Store, Work, export, housekeeping, sessions
from .store.encryption import load_key
from .sync.config import sync_config
from .sync.worker import one_round
from .transcripts import importer
from .wire import structure_params, unstructure

EXIT_OK, EXIT_NOTHING_FOUND, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_STORAGE, EXIT_OFFLINE = 0, 1, 2, 3, 4, 5
out = Console(highlight=False, soft_wrap=False)
if not out.is_terminal:
    out.width = 200  # piped into a file or a pager: keep ids and figures whole
err = Console(stderr=True, highlight=False)


def add_commands(commands: Any, db_help: str) -> None:
    """The terminal commands, as argparse sub-parsers of `agent-history`."""

    def command(name: str, help_text: str, run: Callable[[Store, argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text + ".")
        parser.add_argument("--db", type=Path, help=db_help)
        parser.add_argument("--json", action="store_true", help="print the result as JSON, for scripts")
        parser.set_defaults(run=run)
        return parser

    listing = command("sessions", "list sessions, most recently updated first", _sessions)
    listing.add_argument("--project", help="only this project (a working directory)")
    listing.add_argument("--query", help="only sessions whose title or first prompt contains this")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50, max 500)")

    show = command("show", "print a session as a readable transcript", _show)
    show.add_argument("session", metavar="ID", help="the session's id (or a unique prefix)")

    find = command("search", "search everything the agents said or ran", _search)
    find.add_argument("query", metavar="QUERY", help='words, "phrases", a OR b, -word, prefix*')
    find.add_argument("--project", help="only this project")
    find.add_argument("--session", metavar="ID", help="only this session")
    find.add_argument("--role", action="append", choices=[r.value for r in p.Role], help="only these roles")
    find.add_argument("--limit", type=int, default=20, help="at most this many hits (default 20, max 200)")

    exporting = command("export", "export a session as markdown, json or lossless jsonl", _export)
    exporting.add_argument("session", metavar="ID", help="the session's id (or a unique prefix)")
    exporting.add_argument("--format", choices=[f.value for f in p.ExportFormat], default="markdown")
    exporting.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")

    importing = command("import", "import Claude Code or Codex transcripts (files or directories)", _import)
    importing.add_argument("paths", metavar="PATH", nargs="+", type=Path, help="e.g. ~/.claude/projects")
    importing.add_argument("--format", choices=[f.value for f in p.TranscriptFormat], default="auto")
    importing.add_argument("--project", help="use this projectId instead of each transcript's working directory")

    command("stats", "count what the database holds", _stats)

    gc = command("gc", "apply a retention policy: delete old sessions, purge compacted messages", _gc)
    gc.add_argument("--max-age-days", type=int, help="delete sessions not updated for this many days")
    gc.add_argument("--max-sessions", type=int, help="keep at most this many sessions (newest)")
    gc.add_argument("--max-sessions-per-project", type=int, help="keep at most this many per project")
    gc.add_argument("--purge-compacted-older-than-days", type=int, help="purge compacted messages this old")
    gc.add_argument("--dry-run", action="store_true", help="only say what would be deleted")

    syncing = command("sync", "push this history to the sync remote and pull other machines' (exit 5: offline)", _sync)
    add_sync_arguments(syncing)


def run(args: argparse.Namespace, db_path: Path) -> int:
    try:
        store = Store(db_path, settings=Settings(encryption_key=load_key()))
    except HistoryError as error:
        err.print(f"[red]error:[/red] {escape(error.message)}")
        return EXIT_STORAGE
    try:
        code: int = args.run(store, args)
        return code
    except InvalidParams as error:
        for problem in error.problems:
            err.print(f"[red]error:[/red] {escape(problem.field)}: {escape(problem.message)}")
        return EXIT_USAGE
    except SessionNotFound as error:
        err.print(f"[red]error:[/red] {escape(error.message)}")
        return EXIT_NOT_FOUND
    except HistoryError as error:
        err.print(f"[red]error:[/red] {escape(error.message)}")
        return EXIT_STORAGE
    finally:
        store.close()


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(unstructure(value), ensure_ascii=False, indent=2) + "\n")


def _resolve(store: Store, prefix: str) -> str:
    """A full session id from an id or a unique prefix of one."""
    rows = store.db.execute("SELECT id FROM sessions WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "\uffff"))
    if len(rows) != 1:
        raise SessionNotFound(prefix) if not rows else invalid("ID", f"{prefix!r} is the start of several session ids")
    return str(rows[0][0])


def _tokens(usage: p.SessionUsage) -> int:
    return usage.prompt_tokens + usage.completion_tokens + usage.cache_read_tokens + usage.cache_creation_tokens


def _first_prompts(store: Store, session_ids: list[str]) -> dict[str, str]:
    """Each session's first user prompt (kept for listSessions' query), in one query."""
    if not session_ids:
        return {}
    rows = store.db.execute(
        f"SELECT id, first_prompt FROM sessions WHERE id IN ({', '.join('?' * len(session_ids))})", session_ids
    )
    return {session_id: prompt for session_id, prompt in rows if prompt}


def _sessions(store: Store, args: argparse.Namespace) -> int:
    params = structure_params(
        {"projectId": args.project, "query": args.query, "limit": args.limit}, p.ListSessionsParams
    )
    result = sessions.list_sessions(store, params)
    if args.json:
        _print_json(result)
        return EXIT_OK
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=26)
    table.add_column("updated", no_wrap=True, min_width=16)
    table.add_column("project", no_wrap=True, overflow="ellipsis", max_width=28)
    table.add_column("title or first prompt", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("msgs", justify="right", no_wrap=True, min_width=5)
    table.add_column("tokens", justify="right", no_wrap=True, min_width=11)
    first_prompts = _first_prompts(store, [session.id for session in result.sessions])
    for session in result.sessions:
        label = session.title or first_prompts.get(session.id) or ""
        table.add_row(
            session.id,
            session.updated_at[:16].replace("T", " "),
            escape(session.project_id or ""),
            escape(label.strip().split("\n", 1)[0][:60]),
            str(session.message_count),
            f"{_tokens(session.usage):,}",
        )
    out.print(table)
    if result.next_cursor:
        out.print(f"[dim]more: raise --limit (now {args.limit})[/dim]")
    return EXIT_OK


def _exported(store: Store, session_id: str, format_name: str) -> str:
    params = structure_params({"sessionId": _resolve(store, session_id), "format": format_name}, p.ExportSessionParams)
    return export.export_session(store, params).content


def _show(store: Store, args: argparse.Namespace) -> int:
    sys.stdout.write(_exported(store, args.session, "json" if args.json else "markdown"))
    return EXIT_OK


def _export(store: Store, args: argparse.Namespace) -> int:
    content = _exported(store, args.session, args.format)
    if args.output is None:
        sys.stdout.write(content)
    else:
        args.output.write_text(content)
        err.print(f"wrote {args.output}")
    return EXIT_OK


def _catch_up_index(store: Store) -> None:
    """Bring the search index up to date (a sidecar's indexer usually already has)."""
    index = search.search_index(store)
    behind = store.db.scalar("SELECT count(*) FROM messages WHERE seq > ?", (search.indexed_through(index),))
    if behind > search.INDEX_BATCH:
        with err.status(f"indexing {behind:,} messages for search…"):
            search.catch_up(store.db, index)
    else:
        search.catch_up(store.db, index)


def _search(store: Store, args: argparse.Namespace) -> int:
    raw = {"query": args.query, "projectId": args.project, "roles": args.role, "limit": args.limit}
    params = structure_params(
        {**raw, "sessionId": args.session and _resolve(store, args.session)}, p.SearchMessagesParams
    )
    _catch_up_index(store)
    result = search.search_messages(store, params)
    if args.json:
        _print_json(result)
    else:
        table = Table(box=None, pad_edge=False)
        table.add_column("session", no_wrap=True, min_width=26)
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("role", no_wrap=True)
        table.add_column("when", no_wrap=True, min_width=16)
        table.add_column("snippet", ratio=1)
        for hit in result.hits:
            snippet = re.sub(r"\*\*(.+?)\*\*", r"[bold yellow]\1[/bold yellow]", escape(hit.snippet))
            when = hit.created_at[:16].replace("T", " ")
            table.add_row(hit.session_id, str(hit.index), hit.role.value, when, snippet)
        out.print(table)
    return EXIT_OK if result.hits else EXIT_NOTHING_FOUND


@contextmanager
def _progress_bar(label: str, enabled: bool) -> Iterator[Work]:
    if not enabled:
        yield Work()
        return
    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield Work(report=lambda done, total: progress.update(task, completed=done, total=total))


def _import(store: Store, args: argparse.Namespace) -> int:
    results = []
    for path in args.paths:
        raw = {"path": str(path.expanduser()), "format": args.format, "projectId": args.project}
        with _progress_bar(f"importing {path}", enabled=not args.json and err.is_terminal) as work:
            results.append(importer.import_transcript(store, structure_params(raw, p.ImportTranscriptParams), work))
    _catch_up_index(store)  # so `agent-history search` finds the imported messages at once
    if args.json:
        sys.stdout.write(json.dumps([unstructure(r) for r in results], ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    for path, result in zip(args.paths, results, strict=True):
        out.print(
            f"{escape(str(path))}: {result.messages:,} messages in {len(result.sessions)} new or grown sessions"
            f" from {result.files} files"
            + (f"; {result.skipped_lines} malformed lines skipped" if result.skipped_lines else "")
            + (f"; {result.skipped_files} files of no known format" if result.skipped_files else "")
        )
    return EXIT_OK


def _stats(store: Store, args: argparse.Namespace) -> int:
    result = housekeeping.stats(store)
    if args.json:
        _print_json(result)
        return EXIT_OK
    table = Table(box=None, show_header=False, pad_edge=False)
    for name, value in unstructure(result).items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    out.print(table)
    return EXIT_OK


def _gc(store: Store, args: argparse.Namespace) -> int:
    raw = {
        "maxAgeDays": args.max_age_days,
        "maxSessions": args.max_sessions,
        "maxSessionsPerProject": args.max_sessions_per_project,
        "purgeCompactedOlderThanDays": args.purge_compacted_older_than_days,
        "dryRun": args.dry_run,
    }
    result = housekeeping.apply_retention(store, structure_params(raw, p.ApplyRetentionParams))
    if args.json:
        _print_json(result)
        return EXIT_OK
    verb = "would delete" if args.dry_run else "deleted"
    out.print(f"{verb} {result.deleted_sessions} sessions; purged {result.purged_messages} compacted messages")
    for session_id in result.session_ids:
        out.print(f"  {session_id}")
    return EXIT_OK


def _sync(store: Store, args: argparse.Namespace) -> int:
    apply_sync_arguments(args)
    config = sync_config(None)
    if config is None:
        err.print("[red]error:[/red] no sync remote: give --sync-url or set $AGENT_HISTORY_SYNC_URL")
        return EXIT_USAGE
    if store.settings.encryption_key:
        err.print("[red]error:[/red] sync cannot be combined with encryption at rest (the replica is unencrypted)")
        return EXIT_USAGE
    result = one_round(store, config)
    if args.json:
        _print_json(result)
    else:
        out.print(
            f"pushed {result.pushed_messages} messages; pulled {result.pulled_messages};"
            f" deleted {result.deleted}; renumbered {result.renumbered}"
        )
        if not result.online:
            err.print(f"[yellow]offline:[/yellow] {escape(result.error or '')}; local changes wait for the next sync")
    return EXIT_OK if result.online else EXIT_OFFLINE
