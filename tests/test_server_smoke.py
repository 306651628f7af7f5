from __future__ import annotations

from .helpers import HistoryClient, user


async def test_create_append_and_read_back(client: HistoryClient) -> None:
    session = await client.call("history/createSession", {"kind": "chat", "title": "first"})
    appended = await client.call("history/appendMessages", {"sessionId": session["id"], "messages": [user("hi")]})
    assert [m["index"] for m in appended["messages"]] == [0]
    page = await client.call("history/getMessages", {"sessionId": session["id"]})
    assert [m["content"] for m in page["messages"]] == ["hi"]
