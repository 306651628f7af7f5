"""Search: what is searched, the query language, filters, ranking, freshness, no stale hits."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.errors import InvalidParams, StorageBusy
from sidecar.search import index as search
from sidecar.search import snippets, turso_fts
from sidecar.search.query import tokens as query_tokens
from sidecar.search.tantivy_fts import TantivyIndex
from sidecar.search.turso_fts import TursoIndex
from sidecar.store import Store, context, housekeeping, messages, sessions
from sidecar.store.database import Database
from sidecar.store.imports import ImportedMessage, ImportedSession, encode_session, import_sessions
from sidecar.wire import structure_params

from .helpers import assistant, tool, user


def make(cls: type[Any], **raw: Any) -> Any:
    return structure_params(raw, cls)


def open_engine(engine: str, db_path: Path) -> search.SearchIndex:
    return TantivyIndex(db_path) if engine == "tantivy" else TursoIndex(db_path)


@pytest.fixture(params=search.ENGINES)
def index(store: Store, request: pytest.FixtureRequest) -> Iterator[search.SearchIndex]:
    """Each engine in turn, as the store's own index."""
    opened = store.search = open_engine(request.param, store.path)
    yield opened


@pytest.fixture
def turso(store: Store) -> Iterator[TursoIndex]:
    """Turso's FTS index, for what only it has: its two tiers, its WAL."""
    opened = store.search = TursoIndex(store.path)
    yield opened


def new_session(store: Store, *batch: dict[str, Any], **raw: Any) -> str:
    session = sessions.create_session(store, make(p.CreateSessionParams, kind="agent", **raw))
    if batch:
        messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session.id, messages=list(batch)))
    return session.id


def find(store: Store, index: search.SearchIndex, query: str, **raw: Any) -> list[p.SearchHit]:
    index.catch_up(store.db)
    return search.search_messages(store, make(p.SearchMessagesParams, query=query, **raw)).hits


def found(store: Store, index: search.SearchIndex, query: str, **raw: Any) -> list[str]:
    """The content of each hit, best first."""
    by_id = {}
    for session in sessions.list_sessions(store, make(p.ListSessionsParams, limit=500)).sessions:
        page = messages.get_messages(store, make(p.GetMessagesParams, sessionId=session.id, limit=1000))
        by_id.update({m.id: m.content or m.code_excerpt or "" for m in page.messages})
    return [by_id[hit.message_id] for hit in find(store, index, query, **raw)]


@pytest.fixture
def corpus(store: Store) -> dict[str, str]:
    first = new_session(
        store,
        user("why is the database locked again?"),
        assistant("Let me run the parser tests.", calls=[("t1", "run_tests")]),
        tool("t1", "E   AssertionError: expected 3 tabs, got 2\nFAILED tests/test_parser.py::test_tabs"),
        assistant("The tokenizer splits tabs early.", codeExcerpt="def tokenize(line):\n    return line.split('\\t')"),
        projectId="/home/me/app",
    )
    second = new_session(
        store,
        user("deploy the datadog agent"),
        assistant("Running kubectl apply for the database migration."),
        projectId="/home/me/ops",
    )
    return {"first": first, "second": second}


# -- what is searched ---------------------------------------------------------------


def test_content_code_tool_names_arguments_and_results_are_searched(
    store: Store, index: search.SearchIndex, corpus: dict[str, str]
) -> None:
    assert found(store, index, "locked") == ["why is the database locked again?"]
    assert found(store, index, "tokenize") == ["The tokenizer splits tabs early."]  # the code excerpt
    assert found(store, index, "run_tests") == ["Let me run the parser tests."]  # a tool call's name
    assert found(store, index, "AssertionError") == [
        "E   AssertionError: expected 3 tabs, got 2\nFAILED tests/test_parser.py::test_tabs"
    ]


def test_tool_call_arguments_are_searched(store: Store, index: search.SearchIndex) -> None:
    new_session(
        store,
        {
            "role": "assistant",
            "toolCalls": [{"id": "c", "name": "bash", "arguments": {"cmd": "git rebase --onto main"}}],
        },
    )
    assert len(find(store, index, "rebase")) == 1


# -- the query language ---------------------------------------------------------------


def test_every_word_must_match(store: Store, index: search.SearchIndex, corpus: dict[str, str]) -> None:
    assert found(store, index, "database locked") == ["why is the database locked again?"]
    assert found(store, index, "DATABASE Locked") == ["why is the database locked again?"]  # case-insensitive


def test_phrases_or_not_and_prefixes(store: Store, index: search.SearchIndex, corpus: dict[str, str]) -> None:
    assert found(store, index, '"database migration"') == ["Running kubectl apply for the database migration."]
    assert found(store, index, '"migration database"') == []
    assert sorted(found(store, index, "kubectl OR locked")) == [
        "Running kubectl apply for the database migration.",
        "why is the database locked again?",
    ]
    assert found(store, index, "database -locked") == ["Running kubectl apply for the database migration."]
    assert found(store, index, "database NOT kubectl") == ["why is the database locked again?"]
    assert sorted(found(store, index, "datab*")) == sorted(found(store, index, "database"))
    assert sorted(found(store, index, "data*")) == sorted(
        [*found(store, index, "database"), "deploy the datadog agent"]
    )
    assert found(store, index, "zebra*") == []


def test_punctuation_in_words_is_not_query_syntax(
    store: Store, index: search.SearchIndex, corpus: dict[str, str]
) -> None:
    assert len(found(store, index, "tests/test_parser.py")) == 1
    assert len(found(store, index, "test_tabs")) == 1
    assert len(found(store, index, "locked?")) == 1
    assert len(found(store, index, "(database) +locked:")) == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"database locked', "query: unclosed quote at character 1"),
        ("database OR", "query: OR needs a term on each side"),
        ("OR database", "query: OR needs a term on each side"),
        ("-database", "query: expected at least one word or phrase to find"),
        ("database OR -locked", "query: an excluded term cannot be part of OR"),
        ("NOT", "query: NOT needs a term after it"),
    ],
)
def test_a_query_that_cannot_be_parsed_is_invalid_params(
    store: Store, index: search.SearchIndex, query: str, message: str
) -> None:
    with pytest.raises(InvalidParams) as raised:
        find(store, index, query)
    assert raised.value.message.startswith(message)
    assert raised.value.data is not None and raised.value.data["field"] == "query"


# -- filters, ranking, snippets ---------------------------------------------------------


def test_filters_by_project_session_roles_and_time(
    store: Store, index: search.SearchIndex, corpus: dict[str, str]
) -> None:
    assert found(store, index, "database", projectId="/home/me/ops") == [
        "Running kubectl apply for the database migration."
    ]
    assert found(store, index, "database", projectId="/home/me") == []  # a project is matched whole, not by prefix
    assert found(store, index, "database", sessionId=corpus["first"]) == ["why is the database locked again?"]
    assert found(store, index, "database", roles=["assistant"]) == ["Running kubectl apply for the database migration."]
    assert len(found(store, index, "database", roles=["user", "assistant"])) == 2
    assert found(store, index, "database", since="2999-01-01T00:00:00.000Z") == []
    assert len(found(store, index, "database", until="2999-01-01T00:00:00.000Z")) == 2
    assert len(found(store, index, "database", limit=1)) == 1


def test_more_relevant_messages_rank_first(store: Store, index: search.SearchIndex) -> None:
    new_session(store, user("flaky once"), user("flaky flaky flaky test, flaky again"), user("nothing here"))
    hits = find(store, index, "flaky")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert found(store, index, "flaky")[0] == "flaky flaky flaky test, flaky again"


def test_snippets_mark_matches_around_the_first_one(store: Store, index: search.SearchIndex) -> None:
    long_output = (
        "\n".join(f"line {n}: ok" for n in range(300)) + "\nline 300: Segmentation fault (core dumped)\n" + "tail " * 50
    )
    new_session(store, assistant(None, calls=[("t", "bash")]), tool("t", long_output))
    (hit,) = find(store, index, '"segmentation fault"')
    assert "**Segmentation** **fault**" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…") and len(hit.snippet) < 300
    assert "\n" not in hit.snippet


def test_a_snippet_depends_only_on_the_text_near_the_first_match() -> None:
    near = "lorem ipsum " * 20 + "the needle is here " + "dolor sit " * 30
    pattern = snippets.Words.of(["needle", "here"])
    alone, _ = snippets.snippet(near, pattern)
    assert alone.startswith("…lorem") and "**needle** is **here**" in alone and alone.endswith("…")
    assert snippets.snippet("x\n" * 20_000 + near + "  y\t" * 20_000, pattern)[0] == alone  # 100 KB around it
    unmarked, highlights = snippets.snippet("word\n\n" * 20_000, pattern)
    assert (unmarked, highlights) == ("word " * 47 + "word…", [])


def marked(hit: p.SearchHit) -> list[str]:
    """The words a hit's highlights point at, its snippet indexed in UTF-16 code units as a client does."""
    units = hit.snippet.encode("utf-16-le")
    return [units[2 * h.start : 2 * h.end].decode("utf-16-le") for h in hit.highlights]


def test_text_with_asterisks_of_its_own_is_marked_right(store: Store, index: search.SearchIndex) -> None:
    # Before: the snippet was centred on the text's own `**` and showed neither query word.
    patch = (
        "*** Begin Patch\n*** Update File: a.py\n" + "@@ context line\n" * 12 + "**Note** 🙂 the flaky parser"
        " now reads tabs \\t as **two** spaces\n*** End Patch"
    )
    new_session(store, assistant(None, calls=[("t", "apply_patch")]), tool("t", patch))
    (hit,) = find(store, index, "flaky parser")
    assert "**flaky** **parser**" in hit.snippet and r"\*\*Note\*\* 🙂" in hit.snippet
    assert r"\\t as \*\*two\*\* spaces" in hit.snippet
    assert marked(hit) == ["flaky", "parser"]
    # Every unescaped `**` is a marker: unescaping the rest gives the text back.
    plain = re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)\*\*", "", hit.snippet.replace("\\\\", "\0")))
    assert "**Note** 🙂 the flaky parser now reads tabs \0t as **two** spaces" in plain


def test_hits_say_which_session_and_project_they_are_in(store: Store, index: search.SearchIndex) -> None:
    titled = new_session(store, user("the zebra test fails"), projectId="/src/zoo", title="Zebra crossing")
    untitled = new_session(store, user("<environment_context>x</environment_context>"), user("a zebra again"))
    hits = {hit.session_id: hit for hit in find(store, index, "zebra")}
    assert (hits[titled].session_title, hits[titled].session_preview, hits[titled].project_id) == (
        "Zebra crossing",
        "the zebra test fails",
        "/src/zoo",
    )
    assert (hits[untitled].session_title, hits[untitled].session_preview, hits[untitled].project_id) == (
        None,
        "a zebra again",
        None,
    )


LONG_WORDS = {
    "commit hash": "3895c1b0d4a0ba7d4924d60dc19bf5a31980e7f2",
    "64-character token": "ab12" * 16,
    "200-character identifier": "VeryLong_" + "Identifier" * 19 + "X",
    "non-ASCII word of 40 bytes": "é" * 20,
    "ASCII word in a non-ASCII text": "café_" + "b3" * 30,
    "long word right after a short one's underscore": "ab_" + "c" * 45,
}


@pytest.mark.parametrize("word", LONG_WORDS.values(), ids=LONG_WORDS.keys())
def test_a_word_of_40_bytes_or_more_is_found(store: Store, index: search.SearchIndex, word: str) -> None:
    # Before: the engine drops tokens of 40 bytes or more, in documents and queries: 0 hits.
    new_session(store, user(f"see {word} in the log"), user("nothing else"))
    for query in (word, word.upper(), f'"see {word} in"', word[:12] + "*"):
        (hit,) = find(store, index, query)
        assert set(query_tokens(word)) <= {marked_word.lower() for marked_word in marked(hit)}, query
    assert find(store, index, f'"log {word}"') == []


def test_filters_match_ids_exactly(store: Store, index: search.SearchIndex) -> None:
    # Before: ids that tokenize alike (`ABC-1`, `abc1`) were one filter.
    for session_id, project_id in (("ABC-1", "P-1"), ("abc1", "p1")):
        imported = ImportedSession(
            key=f"test:{session_id}",
            kind="agent",
            id=session_id,
            project_id=project_id,
            created_at="2025-01-01T00:00:00.000Z",
            updated_at="2025-01-01T00:00:00.000Z",
            messages=[
                ImportedMessage(
                    p.MessageInput(role=p.Role.USER, content=f"hello from {session_id}"), "2025-01-01T00:00:00.000Z"
                )
            ],
        )
        import_sessions(store, [encode_session(store.settings, imported)])
    assert found(store, index, "hello", sessionId="ABC-1") == ["hello from ABC-1"]
    assert found(store, index, "hello", sessionId="abc1") == ["hello from abc1"]
    assert found(store, index, "hello", projectId="P-1") == ["hello from ABC-1"]
    assert found(store, index, "hello", projectId="p1") == ["hello from abc1"]


# -- freshness and consistency --------------------------------------------------------


def test_deleted_sessions_and_purged_messages_are_never_found(
    store: Store, index: search.SearchIndex, corpus: dict[str, str]
) -> None:
    assert len(find(store, index, "database")) == 2
    sessions.delete_session(store, make(p.DeleteSessionParams, sessionId=corpus["second"]))
    # Before the indexer has caught up, the hit is already gone: hits are checked against history.
    stale = search.search_messages(store, make(p.SearchMessagesParams, query="database")).hits
    assert [h.session_id for h in stale] == [corpus["first"]]
    index.catch_up(store.db)
    assert index.documents() == 4  # the second session's two are gone

    context.compact_session(
        store, make(p.CompactSessionParams, sessionId=corpus["first"], summary="s", preserveCount=1)
    )
    assert len(find(store, index, "locked")) == 1  # compacted messages stay findable until purged
    store.db.execute("UPDATE messages SET created_at = '2000-01-01T00:00:00.000Z' WHERE compacted = 1")
    housekeeping.apply_retention(store, make(p.ApplyRetentionParams, purgeCompactedOlderThanDays=1))
    assert find(store, index, "locked") == []
    assert index.documents() == 1  # only the preserved message is left


@pytest.mark.parametrize("engine", search.ENGINES)
def test_the_index_catches_up_after_being_away_and_never_indexes_twice(
    store: Store, db_path: Path, engine: str
) -> None:
    session_id = new_session(store, *[user(f"message number {n} about kittens") for n in range(50)])
    first = open_engine(engine, db_path)
    first.catch_up(store.db)
    first.close()
    messages.append_messages(
        store,
        make(p.AppendMessagesParams, sessionId=session_id, messages=[user(f"later {n} kittens") for n in range(30)]),
    )
    again = store.search = open_engine(engine, db_path)  # as after a restart or a kill
    hits = search.search_messages(store, make(p.SearchMessagesParams, query="kittens", limit=200)).hits
    assert len(hits) == 50  # not yet: the index only knows what it took in
    again.catch_up(store.db)
    assert again.documents() == 80
    assert len(search.search_messages(store, make(p.SearchMessagesParams, query="kittens", limit=200)).hits) == 80


@pytest.mark.parametrize("engine", search.ENGINES)
def test_two_indexers_at_once_index_each_message_once(store: Store, db_path: Path, engine: str) -> None:
    new_session(store, *[user(f"racing message {n}") for n in range(900)])
    new_session(store, *[user(f"second racing message {n}") for n in range(900)])
    errors: list[BaseException] = []

    def run() -> None:
        try:  # both open a fresh index at once: creating it must not race either
            history, index = Database(db_path, read_only=True), open_engine(engine, db_path)
            index.catch_up(history)
            history.close()
            index.close()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Turso's index takes turns under its write lock; Tantivy's one writer turns the other away.
    assert all(isinstance(error, StorageBusy) for error in errors) and len(errors) <= (engine == "tantivy")
    check = open_engine(engine, db_path)
    check.catch_up(store.db)  # whichever was turned away would have been told to try again
    assert check.documents() == 1800  # a message indexed twice would be two documents
    check.close()


def test_list_sessions_query_matches_titles_and_the_first_prompt(store: Store, corpus: dict[str, str]) -> None:
    sessions.update_session(store, make(p.UpdateSessionParams, sessionId=corpus["second"], title="Ops work"))

    def listed(query: str) -> list[str]:
        return [s.id for s in sessions.list_sessions(store, make(p.ListSessionsParams, query=query)).sessions]

    assert listed("DATABASE LOCKED") == [corpus["first"]]  # the first user prompt
    assert listed("ops") == [corpus["second"]]  # the title
    assert listed("kubectl") == []  # later messages are for searchMessages
    fork = sessions.fork_session(store, make(p.ForkSessionParams, sessionId=corpus["first"]))
    assert set(listed("database locked")) == {corpus["first"], fork.id}


def test_a_full_page_even_when_many_top_hits_are_stale(store: Store, index: search.SearchIndex) -> None:
    doomed = new_session(store, *[user("wombat wombat wombat") for _ in range(60)])
    kept = new_session(store, *[user(f"a lone wombat {n}") for n in range(8)])
    index.catch_up(store.db)
    sessions.delete_session(store, make(p.DeleteSessionParams, sessionId=doomed))
    # The index still holds the 60 better-scoring, now deleted, hits.
    hits = search.search_messages(store, make(p.SearchMessagesParams, query="wombat", limit=5)).hits
    assert len(hits) == 5 and {h.session_id for h in hits} == {kept}


# -- Turso's two tiers ----------------------------------------------------------------------


def tier_sizes(turso: TursoIndex) -> tuple[int, int]:
    return turso.db.scalar("SELECT count(*) FROM docs"), turso.db.scalar("SELECT count(*) FROM archive")


def test_folding_into_the_archive_keeps_every_hit_and_later_ones_merge_with_it(store: Store, turso: TursoIndex) -> None:
    early = new_session(store, *[user(f"otter report {n}" + " otter" * (n % 3)) for n in range(12)])
    turso.catch_up(store.db)
    before = search.search_messages(store, make(p.SearchMessagesParams, query="otter", limit=50)).hits
    assert tier_sizes(turso) == (12, 0)

    assert not turso_fts.fold(turso.db)  # not due yet
    assert turso_fts.fold(turso.db, turso_fts.Limits(recent=12))
    assert tier_sizes(turso) == (0, 12)
    after = search.search_messages(store, make(p.SearchMessagesParams, query="otter", limit=50)).hits
    assert after == before  # same hits, same order, same snippets and scores

    late = new_session(store, user("one more otter otter otter otter"), user("a quiet otter"))
    turso.catch_up(store.db)
    assert tier_sizes(turso) == (2, 12)
    hits = search.search_messages(store, make(p.SearchMessagesParams, query="otter", limit=50)).hits
    assert len(hits) == 14 and {h.session_id for h in hits} == {early, late}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].session_id == late  # the densest match, from the recent tier, ranks first
    limited = search.search_messages(store, make(p.SearchMessagesParams, query="otter", limit=3)).hits
    assert limited == hits[:3]


def test_a_backlog_larger_than_the_recent_tier_goes_straight_to_the_archive(store: Store, turso: TursoIndex) -> None:
    new_session(store, *[user(f"heron sighting {n}") for n in range(40)])
    limits = turso_fts.Limits(recent=10, archive_changes=10)
    turso_fts.index_new_messages(store.db, turso.db, batch=15, limits=limits)
    turso_fts.index_new_messages(store.db, turso.db, batch=15, limits=limits)
    assert tier_sizes(turso) == (0, 30)  # while more than 10 were waiting
    turso_fts.catch_up(store.db, turso.db, limits)
    # The last 10 went to `docs`; the archive's 30 new documents were due an optimize,
    # which folds everything.
    assert tier_sizes(turso) == (0, 40)
    assert turso.db.scalar("SELECT seq FROM progress WHERE name = 'archive_changes'") == 0
    assert len(find(store, turso, "heron", limit=100)) == 40


def test_removals_reach_the_archive(store: Store, turso: TursoIndex, corpus: dict[str, str]) -> None:
    turso.catch_up(store.db)
    assert turso_fts.fold(turso.db, turso_fts.Limits(recent=1))
    sessions.delete_session(store, make(p.DeleteSessionParams, sessionId=corpus["second"]))
    turso.catch_up(store.db)
    assert turso.db.scalar("SELECT count(*) FROM archive WHERE session_id = ?", (corpus["second"],)) == 0
    assert turso.db.scalar("SELECT seq FROM progress WHERE name = 'archive_changes'") == 2
    assert [h.session_id for h in find(store, turso, "database")] == [corpus["first"]]


def test_a_catch_up_leaves_no_large_index_wal_behind(
    store: Store, turso: TursoIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the WAL kept its high-water mark for good (92 MB beside a 78 MB index at 100k)."""
    monkeypatch.setattr(turso_fts, "WAL_LIMIT_BYTES", 0)  # any WAL at all counts as large
    new_session(store, *[user(f"kingfisher dive {n}") for n in range(30)])
    turso_fts.catch_up(store.db, turso.db, turso_fts.Limits(recent=10))
    assert Path(f"{turso.db.path}-wal").stat().st_size == 0
    assert len(find(store, turso, "kingfisher", limit=100)) == 30
