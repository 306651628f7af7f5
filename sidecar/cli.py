"""The `agent-history` command line."""

from __future__ import annotations

import argparse
import collections
import logging
import os
import sys
from pathlib import Path

from . import __version__

DB_ENV = "AGENT_HISTORY_DB"


def default_db_path() -> Path:
    """`$AGENT_HISTORY_DB`, else the platform's user data directory."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    from platformdirs import user_data_path

    return user_data_path("agent-history", appauthor=False) / "history.db"


def db_argument(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """`--db`, accepted before the command and after it: the command's own copy leaves the
    value alone unless given (SUPPRESS), so `--db X sessions` and `sessions --db X` agree."""
    parser.add_argument(
        "--db",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        help=f"the database file (default: ${DB_ENV}, else {default_db_path()})",
    )


# The commands editors and agents spawn, parsed without the terminal's commands: those
# load rich's renderers and the price data (~110 ms of every editor window's cold start).
SPAWNED_COMMANDS = frozenset({"serve", "index", "sync-worker", "mcp"})


def _command_named(argv: list[str]) -> str | None:
    """The command word of an `agent-history` command line (only `--db` takes a value before it)."""
    words = iter(argv)
    for word in words:
        if word == "--db":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _parser(*, terminal: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-history",
        description="A durable, searchable memory for AI coding agents.",
    )
    parser.add_argument("--version", action="version", version=f"agent-history {__version__}")
    db_argument(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="the sidecar: serve the history protocol (LSP-framed JSON-RPC) on stdin/stdout, for editors",
        description="Serve the history protocol on stdin/stdout. Editors spawn this; logs go to stderr.",
    )
    db_argument(serve)
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="what goes to stderr (default: warning)",
    )
    serve.add_argument(
        "--capture",
        action="store_true",
        help="follow the agents' transcript folders (~/.claude/projects, ~/.codex/sessions) unless the"
        " client's initializationOptions.capture says otherwise (default: off)",
    )
    add_sync_arguments(serve)
    # Internal: the sidecar starts these itself. No help= keeps them out of the command list.
    for internal in (commands.add_parser("index"), commands.add_parser("sync-worker")):
        db_argument(internal)
    mcp = commands.add_parser(
        "mcp",
        help="serve the history to agents as an MCP server on stdin/stdout (read-only)",
        description="Serve search_history, list_sessions, read_session, get_usage and recent_prompts over MCP.",
    )
    db_argument(mcp)
    if terminal:
        from .capture.command import add_command as add_watch_command
        from .terminal import add_commands

        add_commands(commands, db_argument)
        add_watch_command(commands, db_argument)
    return parser


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sync-url",
        help="sync with this Turso database: libsql://…, https://… or http://host:port"
        " (default: $AGENT_HISTORY_SYNC_URL)",
    )
    parser.add_argument(
        "--sync-token-file",
        type=Path,
        help="a 0600 file holding its auth token (default: $AGENT_HISTORY_SYNC_TOKEN_FILE)",
    )


def apply_sync_arguments(args: argparse.Namespace) -> None:
    """Command-line sync settings travel as the environment, as the sidecar and its worker read them."""
    from .sync.config import TOKEN_FILE_ENV, URL_ENV

    if args.sync_url:
        os.environ[URL_ENV] = args.sync_url
    if args.sync_token_file:
        os.environ[TOKEN_FILE_ENV] = str(args.sync_token_file)


def _serve(args: argparse.Namespace) -> int:
    os.umask(0o077)
    apply_sync_arguments(args)  # the database, its WAL and anything else we create: owner only
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="agent-history %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pygls").setLevel(max(logging.WARNING, logging.getLogger().level))
    from .server import serve

    db_path = (args.db or default_db_path()).expanduser()
    if sys.stdin.isatty():
        print(started_by_hand(db_path), file=sys.stderr, flush=True)
    code = serve(db_path, capture=args.capture)
    sys.stderr.flush()
    # Leave at once, even if a long database job is still unwinding on its thread:
    # every commit is already durable, and nothing uncommitted survives anyway.
    os._exit(code)


def started_by_hand(db_path: Path) -> str:
    """What a person who typed `agent-history serve` in a terminal should know."""
    return (
        f"agent-history {__version__} serve: the sidecar editors spawn. It speaks JSON-RPC (LSP framing)"
        f" on stdin/stdout and waits for an editor's messages; database {db_path}.\n"
        "To use your history from a terminal, try instead: agent-history import (every agent's history it"
        " finds), agent-history sessions, agent-history search WORDS. Ctrl-D or Ctrl-C quits."
    )


def _index(args: argparse.Namespace) -> int:
    os.umask(0o077)
    logging.basicConfig(stream=sys.stderr, level="WARNING", format="agent-history indexer %(levelname)s: %(message)s")
    from .search.index import run_indexer

    run_indexer((args.db or default_db_path()).expanduser(), sys.stdin.buffer)
    return 0


def _mcp(args: argparse.Namespace) -> int:
    os.umask(0o077)  # the search index it may create beside the history: owner only
    logging.basicConfig(stream=sys.stderr, level="WARNING", format="agent-history mcp %(levelname)s: %(message)s")
    from .mcp.server import serve  # the MCP SDK: only this command pays for importing it

    return serve((args.db or default_db_path()).expanduser())


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line; `search`'s words may start with `-` (`search error -flaky`) when they
    are not one of its options, so no `--` is needed before an exclusion."""
    raw = sys.argv[1:] if argv is None else argv
    parser = _parser(terminal=_command_named(raw) not in SPAWNED_COMMANDS)
    args, unknown = parser.parse_known_args(raw)
    if args.command != "search":
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return args
    words = [*args.query, *unknown]
    wanted = collections.Counter(words)
    args.query = []
    for word in raw[raw.index("search") + 1 :]:  # in the order typed: `a OR -b` is not `-b a OR`
        if wanted[word] > 0:
            wanted[word] -= 1
            args.query.append(word)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "index":
        return _index(args)
    if args.command == "mcp":
        return _mcp(args)
    os.umask(0o077)
    if args.command == "watch":
        from .capture.command import watch

        return watch(args, (args.db or default_db_path()).expanduser())
    if args.command == "sync-worker":
        logging.basicConfig(stream=sys.stderr, level="WARNING", format="agent-history sync %(levelname)s: %(message)s")
        from .sync.worker import worker_main

        worker_main((args.db or default_db_path()).expanduser())
        return 0
    from .terminal import run

    return run(args, (args.db or default_db_path()).expanduser())
