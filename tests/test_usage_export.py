"""Token usage sums and session exports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from sidecar import protocol as p
from sidecar.store import Store, export, messages, sessions, usage
from sidecar.wire import structure_params, unstructure

from .helpers import HistoryClient, assistant, tool, user


def make(cls: type[Any], **raw: Any) -> Any:
    return structure_params(raw, cls)


def session_with(store: Store, batch: list[dict[str, Any]], **raw: Any) -> str:
    session = sessions.create_session(store, make(p.CreateSessionParams, kind="agent", **raw))
    messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session.id, messages=batch))
    return session.id


def test_usage_totals_and_groups(store: Store) -> None:
    a = session_with(
        store,
        [
            assistant("x", usage={"promptTokens": 100, "completionTokens": 10}),
            assistant("y", agentName="sub", usage={"promptTokens": 50, "completionTokens": 5, "thinkingTokens": 7}),
        ],
        projectId="P",
        agentName="main",
        model="m1",
    )
    session_with(store, [assistant("z", usage={"promptTokens": 1})], projectId="Q", model="m2")

    def get(**raw: Any) -> p.GetUsageResult:
        return usage.get_usage(store, make(p.GetUsageParams, **raw))

    assert unstructure(get().total) == {
        "promptTokens": 151,
        "completionTokens": 15,
        "cacheReadTokens": 0,
        "cacheCreationTokens": 0,
        "thinkingTokens": 7,
        "apiCalls": 3,
    }
    assert get(projectId="P").total.prompt_tokens == 150
    assert get(sessionId=a).total.api_calls == 2
    by_agent = {g.key: g.usage.prompt_tokens for g in get(groupBy="agent").groups}
    assert by_agent == {"main": 100, "sub": 50, "unknown": 1}
    assert [g.key for g in get(groupBy="model").groups] == ["m1", "m2"]  # largest first
    today = get(groupBy="day").groups
    assert len(today) == 1 and len(today[0].key) == 10
    assert get(since="2999-01-01T00:00:00.000Z").total.api_calls == 0
    assert get(until="2000-01-01T00:00:00.000Z").groups == []


def test_jsonl_export_holds_every_message_field_and_compaction(store: Store) -> None:
    from sidecar.store import context

    session_id = session_with(
        store,
        [
            user("q", metadata={"a": 1}),
            assistant("a", calls=[("t1", "bash")], usage={"promptTokens": 3}),
            tool("t1", "out"),
            user("later"),
        ],
        title="Export me",
    )
    context.compact_session(store, make(p.CompactSessionParams, sessionId=session_id, summary="sum", preserveCount=2))
    content = export.export_session(store, make(p.ExportSessionParams, sessionId=session_id, format="jsonl")).content
    lines = [json.loads(line) for line in content.splitlines()]
    assert [line["type"] for line in lines] == ["session", "message", "message", "message", "message", "compaction"]
    stored = messages.get_messages(store, make(p.GetMessagesParams, sessionId=session_id)).messages
    assert [{k: v for k, v in line.items() if k != "type"} for line in lines[1:5]] == [unstructure(m) for m in stored]
    assert lines[5]["summary"] == "sum" and lines[0]["title"] == "Export me"


def test_json_export_is_one_document(store: Store) -> None:
    session_id = session_with(store, [user("hello")])
    content = export.export_session(store, make(p.ExportSessionParams, sessionId=session_id, format="json")).content
    document = json.loads(content)
    assert set(document) == {"session", "messages", "compactions", "edits"}
    assert document["messages"][0]["content"] == "hello"


def test_markdown_export_folds_tool_calls_and_long_output(store: Store) -> None:
    long_output = "\n".join(f"line {n}" for n in range(50))
    session_id = session_with(
        store,
        [
            user("Please list"),
            assistant("Listing", calls=[("t1", "bash")]),
            tool("t1", long_output),
            tool("t1", "short"),
        ],
        title="Readable",
    )
    markdown = export.export_session(
        store, make(p.ExportSessionParams, sessionId=session_id, format="markdown")
    ).content
    assert markdown.startswith("# Readable\n")
    assert "<details><summary>Tool call: bash (t1)</summary>" in markdown
    assert "<details><summary>Result of t1</summary>" in markdown  # 50 lines: folded
    assert "**Result of t1**" in markdown  # one line: shown inline
    assert "Please list" in markdown


def test_markdown_fences_survive_backticks_in_content(store: Store) -> None:
    session_id = session_with(store, [assistant("x", calls=[("t", "f")]), tool("t", "```\ncode\n```")])
    markdown = export.export_session(
        store, make(p.ExportSessionParams, sessionId=session_id, format="markdown")
    ).content
    assert "````\n```\ncode\n```\n````" in markdown


TOKEN_FIELDS = ("promptTokens", "completionTokens", "cacheReadTokens", "cacheCreationTokens", "thinkingTokens")


async def test_token_counts_past_the_bound_are_refused_and_sums_stay_exact(client: HistoryClient) -> None:
    # Before the bound, 2^63-1 was stored: the session's sums turned into floats and every later
    # getUsage answered -32005 "integer overflow".
    sid = (await client.call("history/createSession", {"kind": "chat"}))["id"]
    for field in TOKEN_FIELDS:
        with pytest.raises(JsonRpcException) as raised:
            await client.call(
                "history/appendMessages", {"sessionId": sid, "messages": [assistant("x", usage={field: 2**63 - 1})]}
            )
        assert raised.value.code == -32602 and f"messages[0].usage.{field}" in raised.value.message
    largest = {field: 2**40 for field in TOKEN_FIELDS}
    batch = [
        assistant("big", usage=largest),
        assistant("big", usage=largest),
        assistant("small", usage={"promptTokens": 3}),
    ]
    await client.call("history/appendMessages", {"sessionId": sid, "messages": batch})
    expected = {field: 2 * 2**40 for field in TOKEN_FIELDS} | {"promptTokens": 2 * 2**40 + 3, "apiCalls": 3}
    total = (await client.call("history/getUsage", {}))["total"]
    assert total == expected and all(type(value) is int for value in total.values())
    assert (await client.call("history/getSession", {"sessionId": sid}))["usage"] == expected
    grouped = await client.call("history/getUsage", {"groupBy": "session"})
    assert [group["usage"] for group in grouped["groups"]] == [expected]


def test_markdown_export_says_what_the_session_cost(store: Store) -> None:
    # Neovim's transcript header is this export: it shows the session's cost beside its tokens.
    spent = {"promptTokens": 12_000, "completionTokens": 3_000}
    priced = session_with(store, [user("go"), assistant("done", usage=spent)], model="claude-sonnet-4-20250514")
    cost = usage.get_usage(store, make(p.GetUsageParams, sessionId=priced)).cost
    assert cost > 0
    markdown = export.export_session(store, make(p.ExportSessionParams, sessionId=priced, format="markdown")).content
    assert f"; cost ${cost:,.2f}\n" in markdown.split("\n\n")[1] + "\n"

    unknown = session_with(store, [assistant("hm", usage=spent)], model="a-model-nobody-prices")
    markdown = export.export_session(store, make(p.ExportSessionParams, sessionId=unknown, format="markdown")).content
    assert "; cost unknown (a-model-nobody-prices is not in the price data)" in markdown


def test_markdown_export_of_an_untitled_session_is_headed_by_its_first_request(store: Store) -> None:
    # A bare ULID says nothing to a person (Neovim's transcript buffer shows this heading).
    session_id = session_with(store, [user("Fix the flaky upload test"), assistant("On it")])
    markdown = export.export_session(
        store, make(p.ExportSessionParams, sessionId=session_id, format="markdown")
    ).content
    assert markdown.startswith("# Fix the flaky upload test\n")
