"""The `agent-history` terminal commands, run as a user would, on a real database file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Beside the checkout (../shared), or beside the worktrees' directory for a git worktree.
SAMPLES = next(
    (found for up in (2, 3) if (found := Path(__file__).resolve().parents[up] / "shared" / "data" / "transcripts").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "transcripts",
)


def cli(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENT_HISTORY_DB": str(db_path)}
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def imported(db_path: Path) -> list[dict[str, Any]]:
    if not SAMPLES.is_dir():
        pytest.skip("the shared sample transcripts are not here")
    results: list[dict[str, Any]] = as_json(cli(db_path, "import", str(SAMPLES / "codex"), "--json"))
    return results


def test_import_then_search_finds_what_was_imported(db_path: Path, imported: list[dict[str, Any]]) -> None:
    assert imported[0]["files"] == 2 and imported[0]["messages"] > 0
    hits = as_json(cli(db_path, "search", "apply_patch", "--json"))["hits"]
    assert hits and {hit["sessionId"] for hit in hits} <= {s["id"] for s in imported[0]["sessions"]}
    table = cli(db_path, "search", "apply_patch")
    assert table.returncode == 0 and hits[0]["sessionId"] in table.stdout
    again = as_json(cli(db_path, "import", str(SAMPLES / "codex"), "--json"))
    assert again[0]["messages"] == 0


def test_sessions_show_export_stats_and_gc(db_path: Path, imported: list[dict[str, Any]], tmp_path: Path) -> None:
    listed = as_json(cli(db_path, "sessions", "--json"))["sessions"]
    assert len(listed) == 2
    table = cli(db_path, "sessions")
    assert all(session["id"] in table.stdout for session in listed)
    session_id = listed[0]["id"]
    shown = cli(db_path, "show", session_id)
    assert shown.returncode == 0 and shown.stdout.startswith("# ")
    output = tmp_path / "session.jsonl"
    assert cli(db_path, "export", session_id, "--format", "jsonl", "-o", str(output)).returncode == 0
    assert json.loads(output.read_text().splitlines()[0])["id"] == session_id
    stats = as_json(cli(db_path, "stats", "--json"))
    assert stats["sessions"] == 2 and stats["messages"] == sum(s["messageCount"] for s in listed)
    dry = as_json(cli(db_path, "gc", "--max-sessions", "1", "--dry-run", "--json"))
    assert dry["deletedSessions"] == 1 and as_json(cli(db_path, "stats", "--json"))["sessions"] == 2
    done = as_json(cli(db_path, "gc", "--max-sessions", "1", "--json"))
    assert done["sessionIds"] == dry["sessionIds"] and as_json(cli(db_path, "stats", "--json"))["sessions"] == 1


def test_exit_codes_say_what_went_wrong(db_path: Path, imported: list[dict[str, Any]]) -> None:
    nothing = cli(db_path, "search", "zzzyqx")
    assert nothing.returncode == 1  # as grep: no hits
    unknown = cli(db_path, "show", "01NOSUCHSESSION")
    assert unknown.returncode == 3 and "no session" in unknown.stderr
    bad_query = cli(db_path, "search", '"unclosed')
    assert bad_query.returncode == 2 and "query: unclosed quote" in bad_query.stderr
    bad_limit = cli(db_path, "sessions", "--limit", "0")
    assert bad_limit.returncode == 2 and "limit" in bad_limit.stderr
    missing = cli(db_path, "import", "/no/such/place")
    assert missing.returncode == 2 and "path" in missing.stderr
    usage = cli(db_path, "export")
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_every_command_has_help(db_path: Path) -> None:
    for command in ("sessions", "show", "search", "export", "import", "stats", "gc"):
        result = cli(db_path, command, "--help")
        assert result.returncode == 0 and "--json" in result.stdout and "--db" in result.stdout


def test_a_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"not a database at all" * 100)
    result = cli(foreign, "stats")
    assert result.returncode == 4 and "error" in result.stderr
    assert foreign.read_bytes() == b"not a database at all" * 100


def test_sync_with_a_url_that_is_not_one_is_a_usage_error(db_path: Path) -> None:
    done = cli(db_path, "sync", "--sync-url", "ftp://example.com/db")
    assert done.returncode == 2 and "--sync-url" in done.stderr and "libsql://" in done.stderr
