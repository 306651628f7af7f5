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
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import display, figures
from . import protocol as p
from .cli import add_sync_arguments, apply_sync_arguments
from .errors import HistoryError, InvalidParams, SessionNotFound, invalid
from .search import index as search
from .search.documents import INDEX_BATCH
from .store import Settings, Store, Work, export, housekeeping, sessions
from .store.blocks import Block, usage_blocks
from .store.database import missing_reason
from .store.encryption import load_key
from .store.usage import get_usage, time_zone, total_tokens
from .sync.config import sync_config
from .sync.worker import one_round
from .transcripts import importer, sources
from .wire import structure_params, unstructure

EXIT_OK, EXIT_NOTHING_FOUND, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_STORAGE, EXIT_OFFLINE = 0, 1, 2, 3, 4, 5
out = Console(highlight=False, soft_wrap=False)
if not out.is_terminal and "COLUMNS" not in os.environ:
    out.width = 200  # piped into a file or a pager: keep ids and figures whole
# soft_wrap: a message is one line however narrow the terminal, whole in a pipe or a log.
err = Console(stderr=True, highlight=False, soft_wrap=True)
MIN_FLEXIBLE = 12  # a table's title column gives way down to this
SNIPPET_INDENT = 4
WIDE = 120  # from this width on, tables show whole session ids


def add_commands(commands: Any, db_argument: Callable[[argparse.ArgumentParser], None]) -> None:
    """The terminal commands, as argparse sub-parsers of `agent-history`."""

    def command(name: str, help_text: str, run: Callable[[Store, argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text + ".")
        db_argument(parser)
        parser.add_argument(
            "--json", action="store_true", help="print the result as JSON, for scripts (default: a table)"
        )
        parser.set_defaults(run=run)
        return parser

    listing = command("sessions", "list sessions, most recently active first", _sessions)
    listing.add_argument("--project", help="only this project, a working directory (default: all)")
    listing.add_argument("--query", help="only sessions whose title or first request contains this (default: all)")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most this many (default: 50, max 500)")

    show = command("show", "print a session as a readable transcript (paged in a terminal)", _show)
    show.add_argument("session", metavar="ID", help="the session's id (or a unique prefix)")

    find = command("search", "search everything the agents said or ran", _search)
    find.add_argument("query", metavar="QUERY", nargs="*", help='words, "phrases", a OR b, -word, prefix*')
    find.add_argument("--project", help="only this project (default: all)")
    find.add_argument("--session", metavar="ID", help="only this session (default: all)")
    find.add_argument(
        "--role", action="append", choices=[r.value for r in p.Role], help="only this role; repeatable (default: all)"
    )
    find.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most this many hits (default: 20, max 200)"
    )

    exporting = command("export", "export a session as markdown, json or lossless jsonl", _export)
    exporting.add_argument("session", metavar="ID", help="the session's id (or a unique prefix)")
    exporting.add_argument(
        "--format",
        choices=[f.value for f in p.ExportFormat],
        default="markdown",
        help="what to write (default: markdown)",
    )
    exporting.add_argument("-o", "--output", type=Path, help="write to this file (default: stdout)")

    importing = command(
        "import", "import the agents' transcripts (files or directories; default: every agent's)", _import
    )
    importing.add_argument(
        "paths",
        metavar="PATH",
        nargs="*",
        type=Path,
        help="files or directories (default: every agent's default folder that exists: Claude Code, Codex,"
        " Gemini CLI, Continue, Cline, Roo Code, Kilo Code, Copilot Chat and CLI, Cursor, opencode, Zed;"
        " with --format, that agent's only)",
    )
    importing.add_argument(
        "--format",
        choices=[f.value for f in p.TranscriptFormat],
        default="auto",
        help="read every file as this format (default: auto, told apart by their first lines)",
    )
    importing.add_argument(
        "--project", help="use this projectId instead of each transcript's working directory (default: theirs)"
    )

    command("stats", "count what the database holds", _stats)

    spending = command("usage", "tokens spent and their cost, by day, month, model, agent, project or session", _usage)
    spending.add_argument(
        "report",
        nargs="?",
        choices=[*REPORTS, "blocks"],
        help="one row per day (daily), month (monthly), session, model, agent or project (default: --by's);"
        " blocks: Claude's 5-hour windows, the current one's burn rate and projection",
    )
    spending.add_argument(
        "--by", choices=[g.value for g in p.UsageGroupBy], default="day", help="one row per this (default: day)"
    )
    spending.add_argument(
        "--since",
        type=_local_since,
        metavar="WHEN",
        help="only messages since then: 7d, 12h, 2w or an ISO date/time, local unless it has an offset (default: all)",
    )
    spending.add_argument(
        "--until", type=_local_since, metavar="WHEN", help="only messages before then, as --since (default: now)"
    )
    spending.add_argument(
        "--time-zone",
        metavar="ZONE",
        default=os.environ.get("TZ", "").lstrip(":") or None,  # glibc reads `:Europe/Paris` as the name
        help="days and months of this IANA zone, e.g. Europe/Paris (default: $TZ, else UTC)",
    )
    spending.add_argument("--project", help="only this project (default: all)")
    spending.add_argument(
        "--agent", metavar="NAME", help="only this agent's calls, as the agent report names them (default: all)"
    )
    spending.add_argument("--session", metavar="ID", help="only this session (default: all)")

    gc = command("gc", "apply a retention policy: delete old sessions, purge compacted messages", _gc)
    gc.add_argument(
        "--max-age-days",
        type=int,
        metavar="DAYS",
        help="delete sessions not updated for this many days (default: none)",
    )
    gc.add_argument(
        "--max-sessions", type=int, metavar="N", help="keep at most this many sessions, newest (default: no limit)"
    )
    gc.add_argument(
        "--max-sessions-per-project",
        type=int,
        metavar="N",
        help="keep at most this many per project (default: no limit)",
    )
    gc.add_argument(
        "--purge-compacted-older-than-days",
        type=int,
        metavar="DAYS",
        help="purge compacted messages this old (default: none)",
    )
    gc.add_argument("--dry-run", action="store_true", help="only say what would be deleted (default: delete)")

    syncing = command("sync", "push this history to the sync remote and pull other machines' (exit 5: offline)", _sync)
    add_sync_arguments(syncing)


def _local_since(text: str) -> str:
    """As `_since`, but an ISO date or time is passed on as written: one without an offset is
    then a time of the report's time zone."""
    moment = _since(text)  # checks it
    return moment if figures.is_span(text) else text.strip()


def _since(text: str) -> str:
    """`7d`, `12h`, `2w`, `30m` before now, or an ISO date or time, as the contract's timestamp."""
    try:
        return figures.moment(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 7d/12h/2w nor an ISO date (2026-11-01)") from None


CREATING_COMMANDS = {"import", "sync"}  # a first import, or a new machine's first pull


def run(args: argparse.Namespace, db_path: Path) -> int:
    if args.command not in CREATING_COMMANDS and not db_path.exists():
        reason = missing_reason(db_path) or "nothing is imported yet (`agent-history import` creates it)"
        err.print(f"[red]error:[/red] no database at {escape(str(db_path))}: {escape(reason)}; or choose --db")
        return EXIT_STORAGE
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


def _warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(message)}")


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(unstructure(value), ensure_ascii=False, indent=2) + "\n")


def _resolve(store: Store, prefix: str) -> str:
    """A full session id from an id or a unique prefix of one."""
    rows = store.db.execute("SELECT id FROM sessions WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "\uffff"))
    if len(rows) != 1:
        raise SessionNotFound(prefix) if not rows else invalid("ID", f"{prefix!r} is the start of several session ids")
    return str(rows[0][0])


def _first_prompts(store: Store, session_ids: list[str]) -> dict[str, str]:
    """Each session's first user prompt (kept for listSessions' query), in one query."""
    if not session_ids:
        return {}
    rows = store.db.execute(
        f"SELECT id, first_prompt FROM sessions WHERE id IN ({', '.join('?' * len(session_ids))})", session_ids
    )
    return {session_id: prompt for session_id, prompt in rows if prompt}


def _short_id(store: Store, session_id: str) -> str:
    """The shortest start of the id (at least 8 characters) that names only this session,
    so `show` and `export` take it."""
    length = 8
    for sql in ("SELECT max(id) FROM sessions WHERE id < ?", "SELECT min(id) FROM sessions WHERE id > ?"):
        neighbour = store.db.scalar(sql, (session_id,)) or ""
        shared = next(
            (i for i, (a, b) in enumerate(zip(session_id, neighbour, strict=False)) if a != b), len(neighbour)
        )
        length = max(length, shared + 1)
    return session_id[:length]


def _ids(store: Store, session_ids: list[str]) -> dict[str, str]:
    """How a table names sessions: whole ids when there is room, else unique prefixes."""
    if out.width >= WIDE:
        return {session_id: session_id for session_id in session_ids}
    return {session_id: _short_id(store, session_id) for session_id in session_ids}


def _sessions(store: Store, args: argparse.Namespace) -> int:
    params = structure_params(
        {"projectId": args.project, "query": args.query, "limit": args.limit}, p.ListSessionsParams
    )
    result = sessions.list_sessions(store, params)
    if args.json:
        _print_json(result)
        return EXIT_OK
    if not result.sessions:
        err.print("no sessions" + (" match" if args.query or args.project else " yet: try `agent-history import`"))
        return EXIT_NOTHING_FOUND
    ids = [session.id for session in result.sessions]
    short, first_prompts = _ids(store, ids), _first_prompts(store, ids)
    project_width = 40 if out.width >= WIDE else 16
    rows = [
        [
            short[session.id],
            figures.ago(display.last_activity(session)),
            figures.middle(session.project_id or "", project_width),
            display.session_label(session, first_prompts.get(session.id)),
            f"{session.message_count:,}",
            figures.tokens(total_tokens(session.usage)),
        ]
        for session in result.sessions
    ]
    table = _table(["id", "active", "project", "session", "msgs", "tokens"], rows, flexible=3, right={4, 5})
    out.print(table)
    if result.next_cursor:
        out.print(f"[dim]more: raise --limit (now {args.limit})[/dim]")
    return EXIT_OK


def _exported(store: Store, session_id: str, format_name: str) -> str:
    params = structure_params({"sessionId": _resolve(store, session_id), "format": format_name}, p.ExportSessionParams)
    return export.export_session(store, params).content


def _show(store: Store, args: argparse.Namespace) -> int:
    content = _exported(store, args.session, "json" if args.json else "markdown")
    if args.json or not out.is_terminal:
        sys.stdout.write(content)
        return EXIT_OK
    os.environ.setdefault("LESS", "FRX")  # as git: colours pass, one screen needs no paging
    with out.pager(styles=True):
        out.print(Markdown(content))
    return EXIT_OK


def _export(store: Store, args: argparse.Namespace) -> int:
    if args.output is not None and not args.output.parent.is_dir():
        reason = missing_reason(args.output) or f"{args.output.parent} is not a directory"
        err.print(f"[red]error:[/red] -o: cannot write {escape(str(args.output))}: {escape(reason)}")
        return EXIT_USAGE
    content = _exported(store, args.session, args.format)
    if args.output is None:
        sys.stdout.write(content)
        return EXIT_OK
    try:
        args.output.write_text(content)
    except OSError as error:
        err.print(f"[red]error:[/red] -o: cannot write {escape(str(args.output))}: {escape(error.strerror or '')}")
        return EXIT_USAGE
    err.print(f"wrote {escape(str(args.output))}")
    return EXIT_OK


def _catch_up_index(store: Store) -> None:
    """Bring the search index up to date (a sidecar's indexer usually already has)."""
    index = search.search_index(store)
    behind = search.messages_behind(store.db, index)
    with err.status(f"indexing {behind:,} messages for search…") if behind > INDEX_BATCH else nullcontext():
        search.catch_up_or_wait(store.db, index)


def _search(store: Store, args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    raw = {"query": query, "projectId": args.project, "roles": args.role, "limit": args.limit}
    params = structure_params(
        {**raw, "sessionId": args.session and _resolve(store, args.session)}, p.SearchMessagesParams
    )
    _catch_up_index(store)
    result = search.search_messages(store, params)
    if args.json:
        _print_json(result)
    elif not result.hits:
        err.print(f"no matches for {escape(query)}")
    else:
        _print_hits(store, result.hits)
    return EXIT_OK if result.hits else EXIT_NOTHING_FOUND


def _print_hits(store: Store, hits: list[p.SearchHit]) -> None:
    """Each hit as a line saying where it lives (session, project, message, when), then its
    snippet, indented: readable at 80 columns, where a table's snippet column would be narrow."""
    ids = list(dict.fromkeys(hit.session_id for hit in hits))
    short, about = _ids(store, ids), _hit_sessions(store, hits)
    for hit in hits:
        label, project = about[hit.session_id]
        where = Text(f"{short[hit.session_id]} #{hit.index} {hit.role.value}, {figures.ago(hit.created_at)}  ")
        where.append(figures.middle(project or "", 40 if out.width >= WIDE else 24), style="cyan")
        where.append(f"  {label or '(untitled)'}", style="bold")
        out.print(where, no_wrap=True, overflow="ellipsis")
        for line in display.snippet(hit).wrap(out, out.width - SNIPPET_INDENT):
            line.rstrip()
            out.print(Text(" " * SNIPPET_INDENT) + line)
        out.print()


def _hit_sessions(store: Store, hits: list[p.SearchHit]) -> dict[str, tuple[str, str | None]]:
    """Each hit's session name and project, from the hit itself (`sessionTitle`,
    `sessionPreview`, `projectId`); the first prompt only for a session with neither."""
    unnamed = [hit.session_id for hit in hits if not (hit.session_title or hit.session_preview)]
    first_prompts = _first_prompts(store, list(dict.fromkeys(unnamed)))
    return {
        hit.session_id: (
            figures.one_line(hit.session_title or hit.session_preview or first_prompts.get(hit.session_id)),
            hit.project_id,
        )
        for hit in hits
    }


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
    """The paths named, one import each; with none, the protocol's import of every agent's
    default location, reported per location found."""
    done: list[tuple[str, p.ImportTranscriptResult | p.ImportSource]]
    if args.paths:
        done = [(str(path), _import_one(store, args, path)) for path in _named_paths(args)]
    else:
        result = _import_one(store, args, None)
        places = [source for source in result.sources or [] if source.found]
        if not places:
            looked_at = ", ".join(source.path for source in result.sources or [])
            raise invalid(
                "path", f"nothing to import: none of the agents' folders is on this machine ({looked_at}); name a path"
            )
        done = [(source.path, source) for source in places]
    _catch_up_index(store)  # so `agent-history search` finds the imported messages at once
    if args.json:
        sys.stdout.write(json.dumps([unstructure(r) for _, r in done], ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    for path, counts in done:
        sessions = counts.sessions if isinstance(counts, p.ImportSource) else len(counts.sessions)
        out.print(
            f"{escape(path)}: {counts.files:,} files, {sessions:,} new or grown sessions, {counts.messages:,} messages"
            + (f"; {counts.skipped_lines} malformed lines skipped" if counts.skipped_lines else "")
            + (f"; {counts.skipped_files} files of no known format" if counts.skipped_files else "")
        )
    return EXIT_OK


def _named_paths(args: argparse.Namespace) -> list[Path]:
    paths, missing = sources.existing(args.paths)
    for path in missing:
        _warn(f"{path} does not exist; skipped")
    mismatch = sources.format_mismatch(paths, p.TranscriptFormat(args.format))
    if mismatch:
        raise invalid("format", mismatch)
    return paths


def _import_one(store: Store, args: argparse.Namespace, path: Path | None) -> p.ImportTranscriptResult:
    raw = {"path": path and str(path), "format": args.format, "projectId": args.project}
    label = f"importing {path}" if path else "importing every agent's history"
    with _progress_bar(label, enabled=not args.json and err.is_terminal) as work:
        return importer.import_transcript(store, structure_params(raw, p.ImportTranscriptParams), work, _warn_unknown)


def _warn_unknown(path: Path) -> None:
    _warn(f"{path} is of no transcript format we know; skipped")


# `usage`'s reports as ccusage names them, and the groupings they are.
REPORTS = {
    "daily": "day",
    "monthly": "month",
    "session": "session",
    "model": "model",
    "agent": "agent",
    "project": "project",
}
TIME_GROUPS = {p.UsageGroupBy.DAY.value, p.UsageGroupBy.MONTH.value}
STAT_LABELS = {
    "sessions": "sessions",
    "messages": "messages",
    "edits": "file edits",
    "compactedMessages": "compacted messages",
    "dbPath": "database",
    "dbBytes": "size",
    "schemaVersion": "schema version",
}


def _stats(store: Store, args: argparse.Namespace) -> int:
    result = housekeeping.stats(store)
    if args.json:
        _print_json(result)
        return EXIT_OK
    total = get_usage(store, p.GetUsageParams()).total
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="dim")
    table.add_column(overflow="fold")
    for name, value in unstructure(result).items():
        if name == "redactions":
            continue
        shown = figures.size(value) if name == "dbBytes" else f"{value:,}" if isinstance(value, int) else str(value)
        table.add_row(STAT_LABELS.get(name, name), escape(shown))
        if name == "messages":
            table.add_row("tokens", _token_breakdown(total))
    for kind, count in sorted(result.redactions.items()):
        table.add_row(f"redacted {escape(kind)}", f"{count:,}")
    out.print(table)
    return EXIT_OK


def _token_breakdown(usage: p.SessionUsage) -> str:
    return (
        f"{figures.tokens(total_tokens(usage))}: {figures.tokens(usage.prompt_tokens)} prompt,"
        f" {figures.tokens(usage.completion_tokens)} completion, {figures.tokens(usage.cache_read_tokens)} cache read,"
        f" {figures.tokens(usage.cache_creation_tokens)} cache write"
    )


def _usage(store: Store, args: argparse.Namespace) -> int:
    by = REPORTS.get(args.report or "", args.by)
    raw = {
        "sessionId": args.session and _resolve(store, args.session),
        "projectId": args.project,
        "agent": args.agent,
        "since": args.since,
        "until": args.until,
        "timeZone": args.time_zone,
        "groupBy": by,
    }
    if args.report == "blocks":
        return _blocks(usage_blocks(store, structure_params(raw, p.GetUsageParams)), args)
    result = get_usage(store, structure_params(raw, p.GetUsageParams))
    if args.json:
        _print_json(result)
        return EXIT_OK
    if by in TIME_GROUPS:
        result.groups.sort(key=lambda group: group.key, reverse=True)  # a calendar reads newest first
    names = _session_names(store, [g.key for g in result.groups]) if by == p.UsageGroupBy.SESSION.value else {}
    rows = [[names.get(g.key) or g.key, *_usage_cells(g.usage, g.cost, g.unpriced_calls)] for g in result.groups]
    if not rows:
        out.print(f"no token usage recorded{' in that period' if args.since or args.until else ''}")
        return EXIT_OK
    unpriced_calls = sum(group.unpriced_calls for group in result.groups)
    headings = [by, "tokens", "prompt", "output", "cache", "calls", "cost"]
    table = _table(
        headings,
        [*rows, ["total", *_usage_cells(result.total, result.cost, unpriced_calls)]],
        flexible=0,
        right=set(range(1, len(headings))),
        cut_middle=by == p.UsageGroupBy.PROJECT.value,
    )
    out.print(table)
    if result.unpriced_models:
        out.print(f"[dim]+? no price known for {escape(', '.join(result.unpriced_models))}: left out of cost[/dim]")
    return EXIT_OK


def _blocks(blocks: list[Block], args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.json:
        _print_json([_block_json(block, now) for block in blocks])
        return EXIT_OK
    if not blocks:
        out.print("no token usage recorded")
        return EXIT_OK
    zone = time_zone(args.time_zone)
    rows = [
        [
            block.start.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "active" if block.active(now) else f"{(block.last_call - block.first_call).total_seconds() / 3600:.1f} h",
            ", ".join(sorted(block.models)),
            figures.tokens(block.tokens()),
            f"{block.figures.counts[5]:,}",
            figures.dollars(float(block.figures.cost), unknown=block.figures.unpriced_calls > 0),
        ]
        for block in reversed(blocks)
    ]
    out.print(
        _table(["block start", "used", "models", "tokens", "calls", "cost"], rows, flexible=2, right={1, 3, 4, 5})
    )
    current = blocks[-1]
    if current.active(now):
        rate, tokens, cost = current.projection(now)
        left = int((current.end - now).total_seconds() // 60)
        out.print(
            f"active block: {left // 60} h {left % 60:02d} min left;"
            f" burn rate {figures.tokens(round(rate))} tokens/min;"
            f" projected at its end {figures.tokens(tokens)} tokens, {figures.dollars(float(cost))}"
        )
    return EXIT_OK


def _block_json(block: Block, now: datetime) -> dict[str, Any]:
    def stamp(moment: datetime) -> str:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    shown: dict[str, Any] = {
        "start": stamp(block.start),
        "end": stamp(block.end),
        "lastCall": stamp(block.last_call),
        "active": block.active(now),
        "models": sorted(block.models),
        "usage": unstructure(block.figures.usage()),
        "cost": float(block.figures.cost),
        "unpricedCalls": block.figures.unpriced_calls,
    }
    if shown["active"]:
        rate, tokens, cost = block.projection(now)
        shown["burnRate"] = {"tokensPerMinute": rate}
        shown["projection"] = {"tokens": tokens, "cost": float(cost)}
    return shown


def _table(
    headings: list[str], rows: list[list[str]], *, flexible: int, right: set[int], cut_middle: bool = False
) -> Table:
    """A plain table whose columns keep their widest cell, but for the `flexible` one, which
    takes the room left and gives way when the terminal is narrow: its end cut off, or its
    middle (`cut_middle`, for paths)."""
    widths = [
        max(cell_len(heading), *(cell_len(row[column]) for row in rows)) for column, heading in enumerate(headings)
    ]
    room = out.width - sum(widths) + widths[flexible] - 2 * (len(headings) - 1)  # a column's padding: 1 each side
    widths[flexible] = max(min(widths[flexible], room), MIN_FLEXIBLE)
    if cut_middle:
        rows = [
            [*row[:flexible], figures.middle(row[flexible], widths[flexible]), *row[flexible + 1 :]] for row in rows
        ]
    table = Table(box=None, pad_edge=False)
    for column, heading in enumerate(headings):
        justify: JustifyMethod = "right" if column in right else "left"
        table.add_column(heading, no_wrap=True, overflow="ellipsis", justify=justify, width=widths[column])
    for row in rows:
        table.add_row(*map(Text, row))
    return table


def _usage_cells(usage: p.SessionUsage, cost: float, unpriced_calls: int) -> list[str]:
    # Cache read and written in one column, so a group's name keeps room at 80 columns (--json: each).
    kinds = (usage.prompt_tokens, usage.completion_tokens, usage.cache_read_tokens + usage.cache_creation_tokens)
    return [
        figures.tokens(total_tokens(usage)),
        *map(figures.tokens, kinds),
        f"{usage.api_calls:,}",
        figures.dollars(cost, unknown=unpriced_calls > 0),
    ]


def _session_names(store: Store, session_ids: list[str]) -> dict[str, str]:
    """`<id prefix> <label>` for each session, for a table grouped by session."""
    found = [sessions.load_session(store.db, session_id) for session_id in session_ids]
    short, first_prompts = _ids(store, session_ids), _first_prompts(store, session_ids)
    return {s.id: f"{short[s.id]} {display.session_label(s, first_prompts.get(s.id))}" for s in found}


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
    deleted, purged = ("would delete", "would purge") if args.dry_run else ("deleted", "purged")
    out.print(f"{deleted} {result.deleted_sessions} sessions; {purged} {result.purged_messages} compacted messages")
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
