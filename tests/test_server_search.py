"""history/searchMessages over stdio: fresh within a second, across processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from .helpers import HistoryClient, assistant, running_client, tool, user


async def search_until_found(
    client: HistoryClient, params: dict[str, Any], timeout: float = 1.0
) -> tuple[list[Any], float]:
    started = time.monotonic()
    while True:
        hits = (await client.call("history/searchMessages", params))["hits"]
        elapsed = time.monotonic() - started
        if hits or elapsed > timeout * 3:
            return hits, elapsed
        await asyncio.sleep(0.02)


async def test_a_new_message_is_found_within_a_second(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "agent", "projectId": "P"}))["id"]
    for n in range(3):
        appended = await client.call(
            "history/appendMessages",
            {
                "sessionId": sid,
                "messages": [assistant(None, calls=[(f"t{n}", "bash")]), tool(f"t{n}", f"zebra{n} crossing")],
            },
        )
        hits, elapsed = await search_until_found(client, {"query": f"zebra{n}"})
        assert elapsed < 1.0
        assert [(h["messageId"], h["index"], h["role"]) for h in hits] == [
            (appended["messages"][1]["id"], appended["messages"][1]["index"], "tool")
        ]
        assert hits[0]["sessionId"] == sid and f"**zebra{n}**" in hits[0]["snippet"] and hits[0]["score"] > 0


async def test_hits_carry_their_session_and_highlights_on_the_wire(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "agent", "projectId": "P", "title": "Tabs"}))["id"]
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("**bold** 🙂 okapi here")]})
    hits, _ = await search_until_found(client, {"query": "okapi"})
    (hit,) = hits
    assert (hit["sessionTitle"], hit["sessionPreview"], hit["projectId"]) == ("Tabs", "**bold** 🙂 okapi here", "P")
    assert hit["snippet"] == r"\*\*bold\*\* 🙂 **okapi** here"
    # UTF-16 code units: the emoji counts two.
    assert hit["highlights"] == [{"start": 18, "end": 23}]
    session = await client.call("history/getSession", {"sessionId": sid})
    assert session["preview"] == "**bold** 🙂 okapi here" and session["lastMessageAt"] >= session["createdAt"]


async def test_messages_appended_by_another_process_are_found(client: HistoryClient, db_path: Path) -> None:
    async with running_client(db_path) as other:
        sid = (await other.call("history/createSession", {"kind": "agent"}))["id"]
        await other.call("history/appendMessages", {"sessionId": sid, "messages": [user("the quokka escaped")]})
        hits, elapsed = await search_until_found(client, {"query": "quokka", "sessionId": sid})
        assert len(hits) == 1 and elapsed < 1.0


async def test_a_query_that_cannot_be_parsed_is_invalid_params(client: HistoryClient) -> None:
    with pytest.raises(JsonRpcException) as raised:
        await client.call("history/searchMessages", {"query": '"unclosed'})
    assert raised.value.code == -32602 and raised.value.data["field"] == "query"
    with pytest.raises(JsonRpcException) as raised:
        await client.call("history/searchMessages", {"query": "x", "limit": 201})
    assert raised.value.code == -32602 and "limit: expected an integer from 1 to 200" in raised.value.message
    assert (await client.call("history/searchMessages", {"query": "nothing-matches-this"}))["hits"] == []


async def test_a_deleted_session_is_not_found(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "agent"}))["id"]
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("ephemeral wombat")]})
    hits, _ = await search_until_found(client, {"query": "wombat"})
    assert len(hits) == 1
    await client.call("history/deleteSession", {"sessionId": sid})
    assert (await client.call("history/searchMessages", {"query": "wombat"}))["hits"] == []


async def test_stats_say_how_many_messages_search_cannot_find_yet(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "agent"}))["id"]
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user(f"m{n}") for n in range(5)]})
    deadline = time.monotonic() + 5
    while (await client.call("history/stats", None))["indexBehind"] != 0:
        assert time.monotonic() < deadline, "the index never caught up"
        await asyncio.sleep(0.05)


async def test_stats_count_every_message_as_behind_while_nothing_indexes(db_path: Path) -> None:
    async with running_client(db_path, searchIndex=False) as client:
        sid = (await client.call("history/createSession", {"kind": "agent"}))["id"]
        await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("a"), user("b")]})
        assert (await client.call("history/stats", None))["indexBehind"] == 2
    async with running_client(db_path, readOnly=True) as reader:
        assert "indexBehind" not in await reader.call("history/stats", None)  # no index, and it builds none
