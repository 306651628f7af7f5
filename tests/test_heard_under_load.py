"""A window hears other processes' commits within 1 s even while its own requests wait.

Under four writers and a janitor on two cores, another process's append was heard after
1.5-2.4 s: the change feed was read on the database thread, behind this window's own
append waiting there for the write lock. Here that wait is made on purpose: a process
holds the write lock, this window's append waits for it, and a commit made just before
must still be heard within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sidecar import protocol as p
from sidecar.store import Store, messages, sessions
from sidecar.wire import structure_params

from .helpers import HistoryClient, Notification, user

HOLD_SECONDS = 3.0
HOLDER = f"""
import sys, time, turso
from sidecar.store.database import ENGINE_FEATURES
connection = turso.connect(sys.argv[1], experimental_features=ENGINE_FEATURES, isolation_level=None)
connection.execute("PRAGMA busy_timeout = 10000")
sys.stdin.readline()
connection.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep({HOLD_SECONDS})
connection.execute("ROLLBACK")
"""


@contextlib.contextmanager
def lock_holder(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process, connected and waiting: a line on its stdin makes it take the write lock
    and hold it for HOLD_SECONDS."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait()


def take_the_lock(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("take\n")
    holder.stdin.flush()
    assert holder.stdout.readline() == "held\n"


def says(session_id: str, content: str) -> Callable[[Notification], bool]:
    def match(notification: Notification) -> bool:
        method, params = notification
        return (
            method == p.DID_APPEND_MESSAGES
            and params["sessionId"] == session_id
            and params["messages"][0]["content"] == content
        )

    return match


async def test_a_commit_is_heard_within_a_second_while_this_windows_append_waits_for_the_lock(
    client: HistoryClient, db_path: Path
) -> None:
    other = Store(db_path)  # another process than the sidecar under test
    try:
        theirs = sessions.create_session(other, p.CreateSessionParams(kind="chat")).id
        mine = (await client.call("history/createSession", {"kind": "chat"}))["id"]
        for n in range(3):
            with lock_holder(db_path) as holder:
                await asyncio.sleep(0.5)  # connected, waiting for the word
                params = {"sessionId": theirs, "messages": [user(f"from afar {n}")]}
                messages.append_messages(other, structure_params(params, p.AppendMessagesParams))
                committed = time.monotonic()
                take_the_lock(holder)
                own = asyncio.ensure_future(
                    client.call("history/appendMessages", {"sessionId": mine, "messages": [user(f"mine {n}")]})
                )  # waits for the lock on this window's database thread
                await client.wait_for(says(theirs, f"from afar {n}"), timeout=HOLD_SECONDS + 5)
                heard_after = time.monotonic() - committed
                assert heard_after < 1.0, f"heard after {heard_after:.2f} s"
                assert (await own)["messages"][0]["index"] == n
    finally:
        other.close()
