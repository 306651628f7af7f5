"""Every method of the contract, end to end over stdio with a real LSP client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from sidecar import protocol as p
from sidecar.store.migrations import SCHEMA_VERSION
from sidecar.transcripts import importer

from .bench.imports import write_transcripts
from .helpers import (
    SAMPLES,
    HistoryClient,
    RawServer,
    assistant,
    config,
    frame,
    init_params,
    running_client,
    tool,
    user,
)

ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


@pytest.fixture
async def uninitialized(db_path: Path) -> AsyncIterator[tuple[HistoryClient, Path]]:
    client = await config().start(devtools=None)
    assert isinstance(client, HistoryClient)
    yield client, db_path
    await client.stop()


async def test_initialize_reports_the_store_and_its_features(uninitialized: tuple[HistoryClient, Path]) -> None:
    client, db_path = uninitialized
    result = await client.initialize_session(init_params(db_path))
    history = result.capabilities.experimental["history"]
    assert history["dbPath"] == str(db_path)
    assert history["schemaVersion"] == SCHEMA_VERSION
    served = {method for method, spec in p.REQUESTS.items() if not spec.proposed}
    assert set(history["features"]) == served - {p.SYNC}  # listed only when sync is configured
    assert result.server_info is not None and result.server_info.name == "agent-history"
    await client.shutdown_session()


async def test_session_lifecycle(client: HistoryClient) -> None:
    created = await client.call(
        "history/createSession",
        {
            "projectId": "/work/app",
            "kind": "agent",
            "title": "Fix the parser",
            "agentName": "claude",
            "model": "opus",
            "metadata": {"branch": "main"},
        },
    )
    assert created["kind"] == "agent" and created["messageCount"] == 0 and created["metadata"] == {"branch": "main"}
    assert created["createdAt"] == created["updatedAt"]
    assert re.match(ISO_MS, created["createdAt"]) and len(created["id"]) == 26
    fetched = await client.call("history/getSession", {"sessionId": created["id"]})
    assert fetched == created
    updated = await client.call(
        "history/updateSession", {"sessionId": created["id"], "title": "Parser fixed", "metadata": {"branch": None}}
    )
    assert updated["title"] == "Parser fixed" and updated["metadata"] == {}
    ended = await client.call("history/endSession", {"sessionId": created["id"]})
    assert re.match(ISO_MS, ended["endedAt"])
    assert (await client.call("history/endSession", {"sessionId": created["id"]}))["endedAt"] == ended["endedAt"]
    listed = await client.call("history/listSessions", {"projectId": "/work/app"})
    assert [s["id"] for s in listed["sessions"]] == [created["id"]] and listed.get("nextCursor") is None
    assert (await client.call("history/listSessions", {"includeEnded": False}))["sessions"] == []
    assert await client.call("history/deleteSession", {"sessionId": created["id"]}) == {"deleted": True}
    assert await client.call("history/deleteSession", {"sessionId": created["id"]}) == {"deleted": False}


async def test_messages_context_and_prompts(client: HistoryClient) -> None:
    session = await client.call("history/createSession", {"kind": "chat", "projectId": "P"})
    sid = session["id"]
    appended = await client.call(
        "history/appendMessages",
        {
            "sessionId": sid,
            "messages": [
                user("run the tests", clientMessageId="u1"),
                assistant("running", calls=[("t1", "bash")], usage={"promptTokens": 120, "completionTokens": 8}),
                tool("t1", "3 passed"),
                assistant(None, calls=[("t2", "bash")]),
            ],
        },
    )
    assert [m["index"] for m in appended["messages"]] == [0, 1, 2, 3]
    retry = await client.call(
        "history/appendMessages", {"sessionId": sid, "messages": [user("run the tests", clientMessageId="u1")]}
    )
    assert retry["messages"] == appended["messages"][:1]
    page = await client.call("history/getMessages", {"sessionId": sid, "afterIndex": 0, "limit": 2})
    assert [m["index"] for m in page["messages"]] == [1, 2] and page["hasMore"] is True
    context = await client.call("history/getContext", {"sessionId": sid, "maxMessages": 2})
    assert [m["index"] for m in context["messages"]] == [3]  # index 2 is a result whose call fell outside
    assert [c["id"] for c in context["pendingToolCalls"]] == ["t2"]
    prompts = await client.call("history/recentPrompts", {"projectId": "P"})
    assert [x["content"] for x in prompts["prompts"]] == ["run the tests"]
    got = await client.call("history/getSession", {"sessionId": sid})
    assert (got["messageCount"], got["turnCount"], got["toolCallCount"]) == (4, 1, 2)
    assert got["usage"]["promptTokens"] == 120 and got["usage"]["apiCalls"] == 1


async def test_fork_compact_usage_metadata(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "chat", "model": "m"}))["id"]
    ids = await client.call(
        "history/appendMessages",
        {"sessionId": sid, "messages": [user("a"), assistant("b", usage={"promptTokens": 5}), user("c")]},
    )
    fork = await client.call("history/forkSession", {"sessionId": sid, "atMessageId": ids["messages"][1]["id"]})
    assert fork["parentSessionId"] == sid and fork["messageCount"] == 2
    compacted = await client.call(
        "history/compactSession", {"sessionId": sid, "summary": "a and b", "preserveCount": 1}
    )
    assert compacted == {"compactedCount": 2}
    context = await client.call("history/getContext", {"sessionId": sid})
    assert context["summary"] == "a and b" and [m["content"] for m in context["messages"]] == ["c"]
    usage = await client.call("history/getUsage", {"groupBy": "session"})
    assert usage["total"]["promptTokens"] == 10 and {g["key"] for g in usage["groups"]} == {sid, fork["id"]}
    assert await client.call("history/setMetadata", {"sessionId": sid, "key": "todo", "value": ["a", "b"]}) == {}
    assert await client.call("history/getMetadata", {"sessionId": sid, "key": "todo"}) == {"value": ["a", "b"]}
    assert await client.call("history/setMetadata", {"sessionId": sid, "key": "todo", "value": None}) == {}
    assert (await client.call("history/getMetadata", {"sessionId": sid, "key": "todo"})).get("value") is None


async def test_edits_retention_stats_export_subscribe(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "chat", "title": "T"}))["id"]
    diff = "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-old\n+new\n"
    edit = await client.call(
        "history/recordEdit", {"sessionId": sid, "filePath": "f.txt", "kind": "replace", "diff": diff}
    )
    assert edit["kind"] == "replace" and edit["diff"] == diff
    assert [e["id"] for e in (await client.call("history/listEdits", {"filePath": "f.txt"}))["edits"]] == [edit["id"]]
    reverted = await client.call("history/revertEdits", {"sessionId": sid})
    assert reverted == {
        "patches": [{"filePath": "f.txt", "diff": "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-new\n+old\n"}]
    }
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("hello")]})
    stats = await client.call("history/stats")
    assert (stats["sessions"], stats["messages"], stats["edits"], stats["compactedMessages"]) == (1, 1, 1, 0)
    assert stats["schemaVersion"] == SCHEMA_VERSION and stats["dbBytes"] > 0
    exported = await client.call("history/exportSession", {"sessionId": sid, "format": "markdown"})
    assert exported["content"].startswith("# T") and "hello" in exported["content"]
    dry = await client.call("history/applyRetention", {"maxSessions": 0, "dryRun": True})
    assert dry == {"deletedSessions": 1, "purgedMessages": 0, "sessionIds": [sid]}
    assert (await client.call("history/stats"))["sessions"] == 1
    assert await client.call("history/subscribe", {"sessionIds": [sid]}) == {}


async def test_a_restart_keeps_everything(db_path: Path) -> None:
    async with running_client(db_path) as first:
        sid = (await first.call("history/createSession", {"kind": "chat"}))["id"]
        await first.call("history/appendMessages", {"sessionId": sid, "messages": [user("one"), user("two")]})
        await first.call("history/compactSession", {"sessionId": sid, "summary": "s", "preserveCount": 1})
        before = await first.call("history/exportSession", {"sessionId": sid, "format": "jsonl"})
    async with running_client(db_path) as second:
        after = await second.call("history/exportSession", {"sessionId": sid, "format": "jsonl"})
        assert after == before
        appended = await second.call("history/appendMessages", {"sessionId": sid, "messages": [user("three")]})
        assert appended["messages"][0]["index"] == 2


async def test_default_project_from_initialization_options(db_path: Path) -> None:
    async with running_client(db_path, projectId="/home/me/app") as client:
        session = await client.call("history/createSession", {"kind": "chat"})
        assert session["projectId"] == "/home/me/app"


async def test_import_transcript_reports_progress_announces_sessions_and_adds_nothing_twice(
    client: HistoryClient,
) -> None:
    samples = SAMPLES / "codex"
    if not samples.is_dir():
        pytest.skip("the shared sample transcripts are not here")
    client.progress_reports["import"] = []
    result = await client.call("history/importTranscript", {"path": str(samples), "workDoneToken": "import"})
    assert result["files"] == 2 and result["skippedLines"] == 0 and len(result["sessions"]) == 2
    assert result["messages"] == sum(s["messageCount"] for s in result["sessions"])
    kinds = [report.kind for report in client.progress_reports["import"]]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    for session in result["sessions"]:
        await client.wait_for(
            lambda n, sid=session["id"]: n[0] == p.DID_CHANGE_SESSION and n[1]["sessionId"] == sid, timeout=2.0
        )
    again = await client.call("history/importTranscript", {"path": str(samples), "format": "codex"})
    assert (again["messages"], again["sessions"]) == (0, [])
    with pytest.raises(JsonRpcException) as raised:
        await client.call("history/importTranscript", {"path": str(samples / "missing.jsonl")})
    assert raised.value.code == -32602 and "path" in raised.value.message
    with pytest.raises(JsonRpcException) as raised:
        await client.call("history/importTranscript", {"path": str(samples), "format": "windsurf"})
    assert raised.value.code == -32602 and "format" in raised.value.message


IMPORTED = 4 * importer.WRITE_BATCH  # four batches at least


@pytest.fixture
def transcripts(tmp_path: Path) -> Path:
    projects = tmp_path / "projects"
    projects.mkdir()
    write_transcripts(projects, IMPORTED)
    return projects


def import_until(server: RawServer, projects: Path, kind: str) -> None:
    """Ask for an import (request 90) and read until its progress says `kind` (begin, report)."""
    server.send(server.frame_of(90, "history/importTranscript", {"path": str(projects), "workDoneToken": "i"}))
    while server.read().get("params", {}).get("value", {}).get("kind") != kind:
        pass


def test_requests_during_an_import_are_answered_between_its_batches(db_path: Path, transcripts: Path) -> None:
    server = RawServer(db_path)
    try:
        server.initialize(searchIndex=False)
        session_id = server.request("history/createSession", {"kind": "agent"})["result"]["id"]
        import_until(server, transcripts, "begin")
        server.send(server.frame_of(91, "history/appendMessages", {"sessionId": session_id, "messages": [user("x")]}))
        answered = [server.read_reply() for _ in range(2)]
        assert [reply["id"] for reply in answered] == [91, 90]  # the append did not wait for the whole import
        assert answered[1]["result"]["messages"] == IMPORTED
    finally:
        server.close()


def test_a_cancelled_import_keeps_whole_sessions_and_importing_again_adds_the_rest(
    db_path: Path, transcripts: Path
) -> None:
    server = RawServer(db_path)
    try:
        server.initialize(searchIndex=False)
        import_until(server, transcripts, "report")  # a first batch has committed
        server.send(frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 90}}))
        assert server.read_response(90)["error"]["code"] == -32800
        kept = server.request("history/listSessions", {"limit": 500})["result"]["sessions"]
        assert 0 < sum(session["messageCount"] for session in kept) < IMPORTED
        again = server.request("history/importTranscript", {"path": str(transcripts)})["result"]
        assert sum(session["messageCount"] for session in kept) + again["messages"] == IMPORTED
        assert not {session["id"] for session in kept} & {session["id"] for session in again["sessions"]}  # whole
    finally:
        server.close()
