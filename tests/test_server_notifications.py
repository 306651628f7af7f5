"""didAppendMessages / didChangeSession after each commit, filtered by subscribe, across processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sidecar import protocol as p

from .helpers import HistoryClient, Notification, assistant, running_client, tool, user


def changed(session_id: str, change: str) -> Callable[[Notification], bool]:
    return lambda n: n[0] == p.DID_CHANGE_SESSION and n[1]["sessionId"] == session_id and n[1]["change"] == change


def appended_to(session_id: str) -> Callable[[Notification], bool]:
    return lambda n: n[0] == p.DID_APPEND_MESSAGES and n[1]["sessionId"] == session_id


async def test_an_append_is_announced_with_the_committed_messages(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "chat"}))["id"]
    result = await client.call(
        "history/appendMessages",
        {"sessionId": sid, "messages": [user("q"), assistant("a", calls=[("t", "ls")]), tool("t", "out")]},
    )
    _, params = await client.wait_for(appended_to(sid))
    assert [m["id"] for m in params["messages"]] == [m["id"] for m in result["messages"]]
    assert [m["index"] for m in params["messages"]] == [0, 1, 2]
    assert params["messages"][1]["toolCalls"][0]["name"] == "ls" and params["messages"][2]["toolCallId"] == "t"
    # A retry appends nothing, so it announces nothing.
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("q2", clientMessageId="k")]})
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("q2", clientMessageId="k")]})
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("last")]})
    await client.wait_for(lambda n: appended_to(sid)(n) and n[1]["messages"][0]["content"] == "last")
    assert [m["content"] for m in client.appended(sid)] == ["q", "a", "out", "q2", "last"]


async def test_every_kind_of_session_change_is_announced(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "chat", "title": "t"}))["id"]
    await client.wait_for(changed(sid, "created"))
    await client.call("history/updateSession", {"sessionId": sid, "title": "renamed"})
    _, params = await client.wait_for(changed(sid, "updated"))
    assert params["session"]["title"] == "renamed"
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("a"), user("b")]})
    await client.call("history/compactSession", {"sessionId": sid, "summary": "s", "preserveCount": 1})
    await client.wait_for(changed(sid, "compacted"))
    await client.call("history/endSession", {"sessionId": sid})
    _, params = await client.wait_for(changed(sid, "ended"))
    assert params["session"]["endedAt"] is not None
    fork = await client.call("history/forkSession", {"sessionId": sid})
    _, params = await client.wait_for(changed(fork["id"], "forked"))
    assert params["session"]["parentSessionId"] == sid
    await client.call("history/setMetadata", {"sessionId": sid, "key": "k", "value": 1})
    await client.wait_for(lambda n: changed(sid, "updated")(n) and n[1]["session"]["metadata"] == {"k": 1})
    await client.call("history/deleteSession", {"sessionId": sid})
    _, params = await client.wait_for(changed(sid, "deleted"))
    assert params["session"]["title"] == "renamed"  # as it was


async def test_appending_to_an_ended_session_announces_it_reopened(client: HistoryClient) -> None:
    sid = (await client.call("history/createSession", {"kind": "chat"}))["id"]
    await client.call("history/endSession", {"sessionId": sid})
    await client.call("history/appendMessages", {"sessionId": sid, "messages": [user("back")]})
    _, params = await client.wait_for(lambda n: changed(sid, "updated")(n) and n[1]["session"].get("endedAt") is None)
    assert params["session"]["messageCount"] == 1


async def test_subscribe_filters_by_session_and_by_project(client: HistoryClient) -> None:
    a = (await client.call("history/createSession", {"kind": "chat", "projectId": "A"}))["id"]
    b = (await client.call("history/createSession", {"kind": "chat", "projectId": "B"}))["id"]
    assert await client.call("history/subscribe", {"sessionIds": [a]}) == {}
    await client.call("history/appendMessages", {"sessionId": b, "messages": [user("unseen")]})
    await client.call("history/appendMessages", {"sessionId": a, "messages": [user("seen")]})
    await client.wait_for(appended_to(a))  # the feed is ordered: b's append would have come first
    assert client.appended(b) == []
    await client.call("history/subscribe", {"projectId": "B"})
    await client.call("history/appendMessages", {"sessionId": a, "messages": [user("unseen")]})
    await client.call("history/appendMessages", {"sessionId": b, "messages": [user("seen")]})
    await client.wait_for(appended_to(b))
    assert [m["content"] for m in client.appended(a)] == ["seen"]
    await client.call("history/subscribe", {})  # back to everything
    c = (await client.call("history/createSession", {"kind": "chat", "projectId": "C"}))["id"]
    await client.wait_for(changed(c, "created"))


async def test_another_process_appending_reaches_this_client_within_a_second(
    client: HistoryClient, db_path: Path
) -> None:
    async with running_client(db_path) as other:
        sid = (await other.call("history/createSession", {"kind": "chat"}))["id"]
        await client.wait_for(changed(sid, "created"))
        latencies = []
        for n in range(5):
            started = time.monotonic()
            await other.call("history/appendMessages", {"sessionId": sid, "messages": [user(f"from afar {n}")]})
            await client.wait_for(
                lambda x, n=n: appended_to(sid)(x) and x[1]["messages"][0]["content"] == f"from afar {n}", timeout=1.0
            )
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.0
        assert [m["index"] for m in client.appended(sid)] == [0, 1, 2, 3, 4]


async def test_long_operations_report_progress_under_the_clients_token(client: HistoryClient) -> None:
    for _ in range(300):
        await client.call("history/createSession", {"kind": "chat"})
    client.progress_reports["retention"] = []
    result = await client.call("history/applyRetention", {"maxSessions": 0, "workDoneToken": "retention"})
    assert result["deletedSessions"] == 300
    kinds = [report.kind for report in client.progress_reports["retention"]]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    percentages = [r.percentage for r in client.progress_reports["retention"] if r.kind == "report"]
    assert percentages == sorted(percentages) and percentages[-1] == 100


async def test_retention_from_initialization_options_runs_at_start(db_path: Path) -> None:
    async with running_client(db_path) as seeder:
        for title in ("old", "middle", "newest"):
            await seeder.call("history/createSession", {"kind": "chat", "title": title})
    async with running_client(db_path, retention={"maxSessions": 1}) as client:
        deadline = time.monotonic() + 5
        while (listed := await client.call("history/listSessions", {}))["sessions"] and len(listed["sessions"]) > 1:
            assert time.monotonic() < deadline, "retention did not run at start"
            await asyncio.sleep(0.05)
        assert [s["title"] for s in listed["sessions"]] == ["newest"]
        for title in ("old", "middle"):
            await client.wait_for(
                lambda n, t=title: (
                    n[0] == p.DID_CHANGE_SESSION and n[1]["change"] == "deleted" and n[1]["session"]["title"] == t
                )
            )


async def test_warnings_reach_the_editor_as_log_messages(db_path: Path) -> None:
    async with running_client(db_path) as seeder:
        await seeder.call("history/createSession", {"kind": "chat"})
    # Read-only, with a policy that would delete: retention cannot run, and says so.
    async with running_client(db_path, readOnly=True, retention={"maxSessions": 0}) as client:
        deadline = time.monotonic() + 5
        while not any("retention failed" in m.message for m in client.log_messages):
            assert time.monotonic() < deadline, [m.message for m in client.log_messages]
            await asyncio.sleep(0.05)
        warning = next(m for m in client.log_messages if "retention failed" in m.message)
        assert warning.type == 2 and "read-only" in warning.message  # MessageType.Warning


APPEND_ONE = """
import sys
from pathlib import Path
from sidecar import protocol as p
from sidecar.store import Store
from sidecar.store.messages import append_messages
store = Store(Path(sys.argv[1]))
message = p.MessageInput(role=p.Role.USER, content=sys.argv[3])
append_messages(store, p.AppendMessagesParams(session_id=sys.argv[2], messages=[message]))
store.close()
"""


@pytest.fixture(scope="module")
def slow_disk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a process whose every fsync takes 300 ms (tests/slow_fsync.c)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler and Linux's LD_PRELOAD")
    shim = tmp_path_factory.mktemp("shim") / "slow_fsync.so"
    source = Path(__file__).with_name("slow_fsync.c")
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(shim), str(source), "-ldl"], check=True)
    return {**os.environ, "LD_PRELOAD": str(shim), "SLOW_FSYNC_MS": "300"}


async def test_another_process_on_a_slow_disk_is_heard_within_a_second(
    client: HistoryClient, db_path: Path, slow_disk: dict[str, str]
) -> None:
    # A commit's pages reach the file (its size and time move) an fsync before the commit
    # is visible to other processes. A read in between sees nothing new, and nothing
    # moves the file after it: the append was heard only with the next write, if any.
    sid = (await client.call("history/createSession", {"kind": "chat"}))["id"]
    for n in range(3):
        subprocess.run(
            [sys.executable, "-c", APPEND_ONE, str(db_path), sid, f"slow {n}"], env=slow_disk, check=True, timeout=60
        )
        await client.wait_for(
            lambda x, n=n: appended_to(sid)(x) and x[1]["messages"][0]["content"] == f"slow {n}", timeout=1.0
        )
