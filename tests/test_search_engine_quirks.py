"""The engine's FTS quirks that search works around, one test each.

Each test asserts the quirk is still there. When one starts failing, the engine has fixed
it: retire the workaround named in the docstring, then this test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import turso

from sidecar.store.database import ENGINE_FEATURES


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[turso.Connection]:
    connection = turso.connect(str(tmp_path / "quirks.db"), experimental_features=ENGINE_FEATURES, isolation_level=None)
    connection.execute("CREATE TABLE d (seq INTEGER PRIMARY KEY, body TEXT)")
    connection.execute("CREATE INDEX d_fts ON d USING fts (body)")
    for n in range(1, 41):
        body = "database needle" if n % 2 else "data needle " + "needle " * (n % 5)
        connection.execute("INSERT INTO d (body) VALUES (?)", (body,))
    yield connection
    connection.close()


def seqs(engine: turso.Connection, sql: str, *params: object) -> list[int]:
    return [row[0] for row in engine.execute(sql, params).fetchall()]


def test_a_single_prefix_term_is_ignored(engine: turso.Connection) -> None:
    """Workaround: query.compile_query expands `word*` from the index's `terms` table."""
    assert seqs(engine, "SELECT seq FROM d WHERE fts_match(body, 'datab*')") == []


def test_words_are_ored_by_default(engine: turso.Connection) -> None:
    """Workaround: query.compile_query marks every clause required (+)."""
    assert len(seqs(engine, "SELECT seq FROM d WHERE fts_match(body, 'database data')")) == 40


def test_punctuation_is_query_syntax(engine: turso.Connection) -> None:
    """Workaround: every user term is quoted (body:"…"), so `fix:` or `(` is just text."""
    with pytest.raises(turso.DatabaseError, match="FTS parse error"):
        engine.execute("SELECT seq FROM d WHERE fts_match(body, 'fix:')").fetchall()


def test_scores_are_zero_unless_match_and_score_share_one_parameter(engine: turso.Connection) -> None:
    """Workaround: index._ranked binds the query once as ?1 for fts_match and fts_score."""
    separate = engine.execute("SELECT fts_score(body, ?) FROM d WHERE fts_match(body, ?)", ("needle", "needle"))
    assert {row[0] for row in separate.fetchall()} == {0.0}
    shared = engine.execute("SELECT fts_score(body, ?1) FROM d WHERE fts_match(body, ?1)", ("needle",))
    assert any(row[0] > 0 for row in shared.fetchall())


def test_ordering_matches_by_rowid_with_a_limit_returns_wrong_rows(engine: turso.Connection) -> None:
    """Workaround: search ranks by score (ORDER BY score is right), never by rowid in the same query."""
    direct = seqs(engine, "SELECT seq FROM d WHERE fts_match(body, 'needle') ORDER BY seq DESC LIMIT 3")
    nested = seqs(
        engine, "SELECT seq FROM (SELECT seq FROM d WHERE fts_match(body, 'needle')) ORDER BY seq DESC LIMIT 3"
    )
    assert nested == [40, 39, 38]
    assert direct != nested


def test_ordering_by_score_with_a_limit_is_right(engine: turso.Connection) -> None:
    limited = engine.execute(
        "SELECT fts_score(body, ?1) AS s FROM d WHERE fts_match(body, ?1) ORDER BY s DESC LIMIT 5", ("needle",)
    ).fetchall()
    everything = engine.execute("SELECT fts_score(body, ?1) FROM d WHERE fts_match(body, ?1)", ("needle",)).fetchall()
    assert [row[0] for row in limited] == sorted((row[0] for row in everything), reverse=True)[:5]
