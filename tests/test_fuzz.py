"""Fuzzing the real sidecar: params generated from the `protocol/` model, and raw frames.

Every request with an id is answered; bad input never gets -32603 (internal error); the
server stays up; what was committed before is intact afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import RawServer, frame

MODEL = json.loads((Path(__file__).resolve().parents[1] / "protocol" / "history.model.json").read_text())
STRUCTURES = {s["name"]: s for s in MODEL["structures"]}
ENUMS = {e["name"]: e for e in MODEL["enumerations"]}
REQUESTS = [r for r in MODEL["requests"] if r.get("params")]
FUZZ_CASES = 400
RAW_CASES = 200
SESSION_ID = "session under test"  # replaced by a real id half of the time
# A reply that never comes fails the test instead of hanging it.
pytestmark = pytest.mark.timeout(600)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def of_type(kind: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of a model type, mostly well-formed, sometimes any JSON at all."""
    return st.one_of(_well_formed(kind, depth), json_values) if depth < 3 else json_values


def _well_formed(kind: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    match kind["kind"], kind.get("name"):
        case "base", "string":
            return st.text(max_size=30) | st.sampled_from([SESSION_ID, "", "a" * 300])
        case "base", "integer":
            return st.integers(min_value=-(2**70), max_value=2**70) | st.integers(min_value=-2, max_value=1200)
        case "base", "number":
            return st.floats(allow_nan=False, allow_infinity=False)
        case "base", "boolean":
            return st.booleans()
        case "base", _:
            return json_values
        case "reference", name if name in ENUMS:
            return st.sampled_from(ENUMS[name]["values"]) | st.text(max_size=10)
        case "reference", name:
            return structure(name, depth + 1)
        case "array", _:
            return st.lists(of_type(kind["element"], depth + 1), max_size=3)
        case _:
            return st.dictionaries(st.text(max_size=8), of_type(kind["value"], depth + 1), max_size=3)


def structure(name: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    properties = STRUCTURES[name]["properties"]
    fields = {prop["name"]: of_type(prop["type"], depth) for prop in properties}
    required = {prop["name"] for prop in properties if not prop.get("optional")}
    return st.fixed_dictionaries(
        {key: value for key, value in fields.items() if key in required},
        optional={key: value for key, value in fields.items() if key not in required},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RawServer, str]]:
    db_path = tmp_path_factory.mktemp("fuzz") / "history.db"
    raw = RawServer(db_path)
    raw.initialize(searchIndex=False)
    session_id = raw.request("history/createSession", {"kind": "agent", "title": "kept"})["result"]["id"]
    batch = [{"role": "user", "content": "committed before the fuzzing"}]
    raw.request("history/appendMessages", {"sessionId": session_id, "messages": batch})
    yield raw, session_id
    # Still serving, and what was committed before is intact.
    session = raw.request("history/getSession", {"sessionId": session_id})
    assert session["result"]["title"] in ("kept", None) or isinstance(session["result"]["title"], str)
    first = raw.request("history/getMessages", {"sessionId": session_id, "limit": 1})["result"]["messages"]
    assert first[0]["content"] == "committed before the fuzzing"
    raw.close()


def answered_without_internal_error(raw: RawServer, request_id: int, sent: bytes) -> dict[str, Any]:
    raw.send(sent)
    reply = raw.read_response(request_id)
    assert "result" in reply or reply["error"]["code"] != -32603, reply
    assert raw.process.poll() is None
    return reply


NOT_DESTRUCTIVE = [r for r in REQUESTS if r["method"] not in ("history/deleteSession", "history/applyRetention")]


@settings(max_examples=FUZZ_CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_params_never_get_an_internal_error(server: tuple[RawServer, str], data: st.DataObject) -> None:
    raw, session_id = server
    request = data.draw(st.sampled_from(NOT_DESTRUCTIVE))
    params = data.draw(structure(request["params"]) | json_values)
    if isinstance(params, dict) and params.get("sessionId") == SESSION_ID and data.draw(st.booleans()):
        params["sessionId"] = session_id
    if request["method"] == "history/importTranscript" and isinstance(params, dict):
        params["path"] = "/nonexistent/fuzz"  # only paths the user names are read
    raw.next_id += 1
    answered_without_internal_error(raw, raw.next_id, RawServer.frame_of(raw.next_id, request["method"], params))


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


RAW_BODIES = st.one_of(
    st.binary(max_size=60),  # invalid JSON, invalid UTF-8
    st.sampled_from(
        [
            b'{"jsonrpc": "2.0", "id": %d, "method": "history/stats", "params": NaN}',
            b'{"jsonrpc": "2.0", "id": %d, "method": "history/getSession", "params": {"sessionId": 1e999}}',
            b'{"jsonrpc": "2.0", "id": %d, "method": "history/getSession", "params": {"sessionId": "\\ud800"}}',
            b'{"jsonrpc": "2.0", "id": %d, "method": "history/listSessions", "params": {"limit": 9' + b"9" * 30 + b"}}",
            b'{"jsonrpc": "2.0", "id": %d, "method": "history/listSessions", "params": ' + deep(5000).encode() + b"}",
            b'{"jsonrpc": "2.0", "id": %d, "method": "history/listSessions", "params": {"limit": -0.0}}',
            b'{"jsonrpc": "2.0", "id": %d, "method": "history/stats", "params": null, "extra": [1, {"a": []}]}',
            b'{"jsonrpc": "2.0", "id": %d, "method": "history/getSession", "params": {"sessionId": "\xff\xfe"}}',
        ]
    ),
)


@settings(max_examples=RAW_CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=RAW_BODIES)
def test_raw_frames_never_stop_the_server(server: tuple[RawServer, str], body: bytes) -> None:
    raw, _ = server
    raw.next_id += 1
    if b"%d" in body:  # a request with an id: answered, never with -32603
        raw.send(frame(body.replace(b"%d", str(raw.next_id).encode())))
        reply = raw.read_reply()
        # Unless it cannot be read at all (invalid UTF-8, nesting past any parser's depth):
        # then no id can be known, and the answer is a parse error with a null id.
        assert reply.get("id") == raw.next_id or (reply["id"] is None and reply["error"]["code"] == -32700), reply
        assert "result" in reply or reply["error"]["code"] != -32603, reply
    else:
        raw.send(frame(body))
    raw.next_id += 1  # whatever that was, the next request is answered
    reply = answered_without_internal_error(raw, raw.next_id, RawServer.frame_of(raw.next_id, "history/stats", None))
    assert "result" in reply
