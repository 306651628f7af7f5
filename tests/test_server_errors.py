"""What each kind of bad input gets. After every one the server keeps serving and nothing
committed is lost (each test ends by reading back what was written before the bad input)."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInternalError

from sidecar.server import HistoryServer
from sidecar.stdio import FileWriter
from sidecar.store import Store

from .helpers import HistoryClient, RawServer, frame, running_client, user


async def error_of(client: HistoryClient, method: str, params: Any) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as raised:
        await client.call(method, params)
    return raised.value


async def seeded(client: HistoryClient) -> str:
    sid: str = (await client.call("history/createSession", {"kind": "chat"}))["id"]
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("keep me")]})
    return sid


async def still_intact(client: HistoryClient, sid: str) -> None:
    page = await client.call("history/getMessages", {"sessionId": sid})
    assert [m["content"] for m in page["messages"]] == ["keep me"]


# -- -32602: the message names the field path and what was expected -----------------

INVALID_PARAMS = [
    (
        "history/appendMessages",
        {"messages": [user("x"), {"role": "robot"}]},
        "messages[1].role: expected one of system, user, assistant, tool",
    ),
    ("history/appendMessages", {"messages": []}, "messages: expected at least 1 item(s)"),
    ("history/appendMessages", {"messages": "hello"}, "messages: expected an array, got string"),
    (
        "history/appendMessages",
        {"messages": [{"role": "user", "content": 5}]},
        "messages[0].content: expected a string, got number",
    ),
    (
        "history/appendMessages",
        {"messages": [{"role": "tool", "content": "x"}]},
        "messages[0].toolCallId: required for role tool",
    ),
    (
        "history/appendMessages",
        {"messages": [{"role": "assistant", "toolCalls": [{"id": "", "name": "x"}]}]},
        "messages[0].toolCalls[0].id: expected a non-empty string",
    ),
    (
        "history/appendMessages",
        {"messages": [{"role": "user", "usage": {"promptTokens": -1}}]},
        "messages[0].usage.promptTokens: expected an integer from 0 to 1099511627776",
    ),
    (
        "history/appendMessages",
        {"messages": [{"role": "user", "metadata": [1]}]},
        "messages[0].metadata: expected an object, got array",
    ),
    ("history/getMessages", {"limit": 1001}, "limit: expected an integer from 1 to 1000"),
    ("history/getMessages", {"limit": "10"}, "limit: expected an integer, got string"),
    ("history/getMessages", {"limit": 10.5}, "limit: expected an integer, got number"),
    ("history/getMessages", {"roles": ["user", "bot"]}, "roles[1]: expected one of system, user, assistant, tool"),
    ("history/getContext", {"maxTokens": -1}, "maxTokens: expected an integer of at least 0"),
    ("history/compactSession", {"summary": "s"}, "preserveCount: required"),
    ("history/listSessions", {"limit": 0}, "limit: expected an integer from 1 to 500"),
    ("history/listSessions", {"includeEnded": "yes"}, "includeEnded: expected true or false, got string"),
    ("history/listSessions", {"cursor": "garbage"}, "cursor: expected the nextCursor of a previous page"),
    (
        "history/recordEdit",
        {"filePath": "f", "kind": "move", "diff": ""},
        "kind: expected one of create, insert, replace, delete, rename",
    ),
    ("history/recordEdit", {"filePath": "f", "kind": "rename", "diff": ""}, "newPath: required for kind rename"),
    ("history/recordEdit", {"filePath": "f", "kind": "replace", "diff": "not a diff"}, "diff: expected a unified diff"),
    ("history/getUsage", {"groupBy": "week"}, "groupBy: expected one of agent, model, day, session"),
    ("history/getUsage", {"since": ""}, "since: expected an ISO date or date-time, got ''"),  # found by the fuzz
    ("history/searchMessages", {"query": "x", "until": "soon"}, "until: expected an ISO date or date-time"),
    ("history/exportSession", {"format": "pdf"}, "format: expected one of markdown, json, jsonl"),
    ("history/getMetadata", {"key": ""}, "key: expected a non-empty string"),
    ("history/applyRetention", {"maxSessions": 1.5}, "maxSessions: expected an integer, got number"),
    ("history/subscribe", {"sessionIds": "abc"}, "sessionIds: expected an array, got string"),
]


@pytest.mark.parametrize(("method", "params", "message"), INVALID_PARAMS, ids=[m for _, _, m in INVALID_PARAMS])
async def test_invalid_params_name_the_field(
    client: HistoryClient, method: str, params: dict[str, Any], message: str
) -> None:
    sid = await seeded(client)
    error = await error_of(client, method, {"sessionId": sid, **params})
    assert error.code == -32602
    assert message in error.message
    assert error.data["field"] == message.split(":")[0]
    await still_intact(client, sid)


async def test_a_missing_required_field_and_a_wrong_id_type(client: HistoryClient) -> None:
    sid = await seeded(client)
    error = await error_of(client, "history/getSession", {})
    assert (error.code, error.message) == (-32602, "sessionId: required")
    error = await error_of(client, "history/getSession", {"sessionId": 42})
    assert error.message == "sessionId: expected a string, got number"
    error = await error_of(client, "history/getSession", [sid])
    assert error.message == "expected an object, got array"
    await still_intact(client, sid)


async def test_several_problems_are_all_named(client: HistoryClient) -> None:
    error = await error_of(client, "history/createSession", {"kind": 1, "title": 2})
    assert error.message == "kind: expected a string, got number; title: expected a string, got number"
    assert [x["field"] for x in error.data["problems"]] == ["kind", "title"]


async def test_null_optional_fields_mean_absent(client: HistoryClient) -> None:
    sid = await seeded(client)
    page = await client.call("history/getMessages", {"sessionId": sid, "limit": None, "roles": None})
    assert len(page["messages"]) == 1
    listed = await client.call("history/listSessions", {"includeEnded": None, "projectId": None})
    assert len(listed["sessions"]) == 1


# -- the server's own codes ---------------------------------------------------------


async def test_unknown_session_and_message(client: HistoryClient) -> None:
    sid = await seeded(client)
    for method in ("history/getSession", "history/getMessages", "history/getContext", "history/endSession"):
        error = await error_of(client, method, {"sessionId": "01JUNKJUNKJUNKJUNKJUNKJUNK"})
        assert error.code == -32001, method
        assert error.data == {"sessionId": "01JUNKJUNKJUNKJUNKJUNKJUNK"}
    error = await error_of(client, "history/forkSession", {"sessionId": sid, "atMessageId": "01NOPE"})
    assert error.code == -32002 and error.data == {"messageId": "01NOPE", "sessionId": sid}
    error = await error_of(
        client,
        "history/recordEdit",
        {"sessionId": sid, "messageId": "01NOPE", "filePath": "f", "kind": "create", "diff": ""},
    )
    assert error.code == -32002
    await still_intact(client, sid)


async def test_a_batch_over_1000_is_payload_too_large(client: HistoryClient) -> None:
    sid = await seeded(client)
    error = await error_of(client, "history/appendMessages", {"sessionId": sid, "messages": [user("x")] * 1001})
    assert error.code == -32003 and error.data == {"field": "messages"}
    ok = await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("y")] * 1000})
    assert ok["messages"][-1]["index"] == 1000


async def test_a_message_over_the_content_limit_is_payload_too_large(db_path: Path) -> None:
    async with running_client(db_path, maxMessageBytes=1024) as client:
        sid = await seeded(client)
        error = await error_of(
            client, "history/appendMessages", {"sessionId": sid, "messages": [user("fits"), user("é" * 600)]}
        )
        assert error.code == -32003
        assert error.data == {"field": "messages[1]", "bytes": 1200, "limit": 1024}
        await still_intact(client, sid)  # all or nothing: "fits" was not appended either


@pytest.fixture
def lock_holder(db_path: Path) -> Iterator[Store]:
    holder = Store(db_path)  # creates the database; a second process on the same file
    yield holder
    if holder.db.connection.in_transaction:
        holder.db.execute("ROLLBACK")
    holder.close()


async def test_a_lock_held_past_the_timeout_is_storage_busy_and_retry_works(db_path: Path, lock_holder: Store) -> None:
    async with running_client(db_path, busyTimeoutMs=300) as client:
        sid = await seeded(client)
        lock_holder.db.execute("BEGIN IMMEDIATE")
        error = await error_of(client, "history/appendMessages", {"sessionId": sid, "messages": [user("later")]})
        assert error.code == -32004
        lock_holder.db.execute("ROLLBACK")
        retried = await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("later")]})
        assert retried["messages"][0]["index"] == 1


async def test_read_only_mode_refuses_writes_with_storage_error(db_path: Path) -> None:
    async with running_client(db_path) as writer:
        sid = await seeded(writer)
    async with running_client(db_path, readOnly=True) as reader:
        await still_intact(reader, sid)
        error = await error_of(reader, "history/appendMessages", {"sessionId": sid, "messages": [user("no")]})
        assert error.code == -32005 and "read-only" in error.message
        error = await error_of(reader, "history/createSession", {"kind": "chat"})
        assert error.code == -32005
        await still_intact(reader, sid)


def test_read_only_mode_on_a_missing_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    raw = RawServer(tmp_path / "data" / "typo.db")
    try:
        refused = raw.initialize(readOnly=True)
        assert refused["error"]["code"] == -32005
        assert "typo.db does not exist" in refused["error"]["message"]
    finally:
        raw.close()
    assert not (tmp_path / "data").exists()


async def test_read_only_search_without_an_index_says_how_to_get_one(db_path: Path) -> None:
    async with running_client(db_path, searchIndex=False) as writer:
        sid = await seeded(writer)
    async with running_client(db_path, readOnly=True) as reader:
        error = await error_of(reader, "history/searchMessages", {"query": "keep"})
        assert error.code == -32005 and "no search index yet" in error.message and "without readOnly" in error.message
        await still_intact(reader, sid)  # and it keeps serving
    assert not Path(f"{db_path}-search").exists() and not Path(f"{db_path}-tantivy").exists()


async def test_cancelling_a_long_fork_commits_nothing(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "chat"}))["id"]
    for _ in range(20):
        await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("m")] * 1000})
    client.progress_reports["fork"] = []
    pending = asyncio.wrap_future(
        client.protocol.send_request("history/forkSession", {"sessionId": sid, "workDoneToken": "fork"}, msg_id="f1")
    )

    async def first_report() -> None:
        while not any(getattr(r, "kind", "") == "report" for r in client.progress_reports["fork"]):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(first_report(), 10)
    client.protocol.notify(lsp.CANCEL_REQUEST, lsp.CancelParams(id="f1"))
    with pytest.raises(JsonRpcException) as raised:
        await pending
    assert raised.value.code == -32800
    listed = await client.call("history/listSessions", {})
    assert [s["id"] for s in listed["sessions"]] == [sid]  # no half-made fork
    assert (await client.call("history/stats"))["messages"] == 20_000


# -- frames that are not requests --------------------------------------------------


@pytest.fixture
def raw(db_path: Path) -> Iterator[RawServer]:
    server = RawServer(db_path)
    yield server
    server.close()


def test_requests_before_initialize_are_invalid_requests(raw: RawServer) -> None:
    response = raw.request("history/stats", {})
    assert response["error"]["code"] == -32600 and "initialize" in response["error"]["message"]


def test_a_request_without_params_is_answered(raw: RawServer) -> None:
    raw.initialize()
    assert raw.request("history/stats", omit_params=True)["result"]["sessions"] == 0
    response = raw.request("history/getSession", omit_params=True)
    assert response["error"] == {
        "code": -32602,
        "message": "sessionId: required",
        "data": {"field": "sessionId", "problems": [{"field": "sessionId", "message": "required"}]},
    }


BROKEN_FRAMES = [
    (b"{not json", -32700, "parse error"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "history/stats", "params": {"x": NaN}}', -32700, "NaN"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "history/stats", "params": {"x": "\xff\xfe"}}', -32700, "UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, -32700, "nested too deeply"),
    (b'{"jsonrpc": "2.0", "id": 1, "params": {}}', -32600, "method must be a string"),
    (b'{"jsonrpc": "1.0", "id": 1, "method": "history/stats"}', -32600, "jsonrpc"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "history/stats", "params": 5}', -32600, "params"),
    (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "history/stats"}', -32600, "id must be"),
    (b"[1, 2]", -32600, "batch"),
    (b'"just a string"', -32600, "expected a JSON-RPC object"),
]


@pytest.mark.parametrize(("body", "code", "words"), BROKEN_FRAMES, ids=[w for _, _, w in BROKEN_FRAMES])
def test_broken_bodies_get_an_error_and_the_server_keeps_serving(
    raw: RawServer, body: bytes, code: int, words: str
) -> None:
    raw.initialize()
    sid = raw.request("history/createSession", {"kind": "chat"})["result"]["id"]
    raw.send(frame(body))
    error = raw.read_reply()
    assert error["error"]["code"] == code and words in error["error"]["message"]
    assert raw.request("history/getSession", {"sessionId": sid})["result"]["id"] == sid


def test_broken_headers_get_an_error_and_the_server_keeps_serving(raw: RawServer) -> None:
    raw.initialize()
    raw.send(b"Content-Length: banana\r\n\r\n")
    assert raw.read_reply()["error"]["code"] == -32600
    raw.send(b"Content-Type: text/plain\r\n\r\n")
    assert "no Content-Length" in raw.read_reply()["error"]["message"]
    assert raw.request("history/stats", {})["result"]["sessions"] == 0


def test_a_huge_integer_and_an_id_kept_in_errors(raw: RawServer) -> None:
    raw.initialize()
    raw.send(
        frame(
            {
                "jsonrpc": "2.0",
                "id": "x-1",
                "method": "history/getMessages",
                "params": {"sessionId": "s", "limit": 10**30},
            }
        )
    )
    response = raw.read_response("x-1")
    assert response["error"]["code"] == -32602 and response["error"]["data"]["field"] == "limit"


def test_an_unknown_method_is_method_not_found(raw: RawServer) -> None:
    raw.initialize()
    assert raw.request("history/doesNotExist", {})["error"]["code"] == -32601


def test_bad_initialization_options_name_the_field(raw: RawServer) -> None:
    response = raw.initialize(readOnly="no", retention={"maxSessions": -1})
    assert response["error"]["code"] == -32602
    assert "initializationOptions.readOnly: expected true or false" in response["error"]["message"]
    assert "initializationOptions.retention.maxSessions" in response["error"]["message"]


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/db", "https://"])
def test_a_sync_url_that_cannot_be_synced_with_names_the_field(raw: RawServer, url: str) -> None:
    response = raw.initialize(sync={"url": url})
    assert response["error"]["code"] == -32602
    expected = "initializationOptions.sync.url: expected a libsql://, https:// or http:// URL"
    assert expected in response["error"]["message"]


def test_a_foreign_database_is_a_clear_start_up_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database\n" * 100)
    server = RawServer(garbage)
    try:
        response = server.initialize()
        assert response["error"]["code"] == -32005
        assert "not a database file" in response["error"]["message"]
        assert garbage.read_bytes() == b"not a database\n" * 100
    finally:
        server.close()


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("a directory", "is not a regular file"),
        ("a device", "is not a regular file"),
        ("under a file", "cannot open"),  # its directory cannot be made
    ],
)
def test_a_path_that_cannot_hold_a_database_is_a_clear_start_up_error(tmp_path: Path, where: str, said: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way\n")
    path = {"a directory": tmp_path, "a device": Path("/dev/null"), "under a file": blocker / "history.db"}[where]
    server = RawServer(path)
    try:
        response = server.initialize()
        assert response["error"]["code"] == -32005
        assert str(path) in response["error"]["message"] and said in response["error"]["message"]
        assert server.request("history/stats", None)["error"]["code"] == -32600  # still serving, not initialized
    finally:
        server.close()
    assert blocker.read_text() == "in the way\n" and sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


# -- inputs that once reached the core and came back -32603 with a traceback ---------------

SURROGATE = "a\ud800b"  # JSON's "\ud800" escape: valid JSON, not storable text
DEEP = {"a": 1}
for _ in range(700):
    DEEP = {"a": DEEP}
UNSTORABLE = [
    ("history/appendMessages", {"messages": [user(SURROGATE)]}, "messages[0].content"),
    ("history/appendMessages", {"messages": [user("x", metadata={SURROGATE: 1})]}, "messages[0].metadata"),
    ("history/appendMessages", {"messages": [user("x", metadata={"k": [SURROGATE]})]}, "messages[0].metadata.k[0]"),
    (
        "history/appendMessages",
        {"messages": [{"role": "assistant", "toolCalls": [{"id": "c", "name": "n", "arguments": DEEP}]}]},
        "messages[0].toolCalls[0].arguments",
    ),
    ("history/createSession", {"kind": "chat", "title": SURROGATE}, "title"),
    ("history/createSession", {"kind": "chat", "projectId": SURROGATE}, "projectId"),
    ("history/searchMessages", {"query": "x", "since": SURROGATE}, "since"),
    ("history/applyRetention", {"maxAgeDays": 1e18}, "maxAgeDays"),
]


@pytest.mark.parametrize(("method", "params", "field"), UNSTORABLE, ids=[f for _, _, f in UNSTORABLE])
def test_unstorable_text_deep_json_and_huge_numbers_are_invalid_params(
    raw: RawServer, method: str, params: dict[str, Any], field: str
) -> None:
    """Before: -32603 with a traceback (UnicodeEncodeError, RecursionError, OverflowError),
    or a wrong -32005 for a surrogate in a title, project id, metadata key or `since`."""
    raw.initialize()
    sid = raw.request("history/createSession", {"kind": "chat"})["result"]["id"]
    raw.request("history/appendMessages", {"sessionId": sid, "messages": [user("keep me")]})
    if method == "history/appendMessages":
        params = {"sessionId": sid, **params}
    raw.send(raw.frame_of(77, method, params))  # json.dumps writes the surrogate as "\ud800"
    error = raw.read_response(77)["error"]
    assert (error["code"], error["data"]["field"]) == (-32602, field), error
    assert "Traceback" not in str(error) and "File " not in str(error)
    messages = raw.request("history/getMessages", {"sessionId": sid})["result"]["messages"]
    assert [m["content"] for m in messages] == ["keep me"]


SHORT_BODIES = [
    b'{"jsonrpc": "2.0", "id": 1',  # cut short, the next frame right behind it
    b"",  # no body at all
    b'{"jsonrpc": "2.0"}\r\n',  # a whole message, then a line break
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("short", SHORT_BODIES, ids=["cut", "empty", "line"])
def test_a_huge_content_length_over_a_short_body_is_refused_and_the_next_frame_served(
    raw: RawServer, short: bytes
) -> None:
    """Before: -32003, then every later byte discarded as the announced terabyte's body."""
    raw.initialize()
    raw.send(b"Content-Length: %d\r\n\r\n" % 10**12 + short + raw.frame_of(5, "history/stats", {}))
    assert raw.read_reply()["error"]["code"] == -32003
    assert raw.read_response(5)["result"]["sessions"] == 0
    assert raw.request("history/stats", {})["result"]["sessions"] == 0


def test_an_internal_error_reaches_the_client_without_its_traceback(db_path: Path) -> None:
    """Nothing on the wire reaches -32603 any more (the fuzz tests say so), so the error
    pygls builds for an unexpected exception is sent through the server's own protocol."""
    server = HistoryServer(db_path)
    out = io.BytesIO()
    server.protocol.set_writer(cast(Any, FileWriter(out)))
    try:
        raise RecursionError("maximum recursion depth exceeded")
    except RecursionError:
        error = JsonRpcInternalError.of(sys.exc_info()).to_response_error()
    server.protocol._send_response(3, error=error)
    reply = json.loads(out.getvalue().partition(b"\r\n\r\n")[2])
    assert reply["error"]["code"] == -32603 and "RecursionError" in reply["error"]["message"]
    assert "data" not in reply["error"] and "Traceback" not in str(reply) and "File " not in str(reply)
