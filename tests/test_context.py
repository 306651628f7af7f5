"""getContext and compaction: budgets, tool-call pairing, summaries."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar import protocol as p
from sidecar.store import Store, context, messages, sessions
from sidecar.wire import structure_params

from .helpers import assistant, tool, user


def make(cls: type[Any], **raw: Any) -> Any:
    return structure_params(raw, cls)


def start(store: Store, *batch: dict[str, Any]) -> str:
    session = sessions.create_session(store, make(p.CreateSessionParams, kind="agent"))
    if batch:
        messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session.id, messages=list(batch)))
    return session.id


def ctx(store: Store, session_id: str, **raw: Any) -> p.GetContextResult:
    return context.get_context(store, make(p.GetContextParams, sessionId=session_id, **raw))


def contents(result: p.GetContextResult) -> list[str | None]:
    return [m.content for m in result.messages]


def test_everything_oldest_first_without_limits(store: Store) -> None:
    session_id = start(store, user("a"), assistant("b"), user("c"))
    result = ctx(store, session_id)
    assert contents(result) == ["a", "b", "c"] and result.summary is None and result.pending_tool_calls == []


def test_max_messages_keeps_the_newest(store: Store) -> None:
    session_id = start(store, *[user(str(n)) for n in range(10)])
    assert contents(ctx(store, session_id, maxMessages=3)) == ["7", "8", "9"]
    assert contents(ctx(store, session_id, maxMessages=0)) == []


def test_max_tokens_counts_chars_over_four_rounded_up(store: Store) -> None:
    # 5 chars -> 2 tokens each.
    session_id = start(store, user("aaaaa"), user("bbbbb"), user("ccccc"))
    assert contents(ctx(store, session_id, maxTokens=4)) == ["bbbbb", "ccccc"]
    assert contents(ctx(store, session_id, maxTokens=5)) == ["bbbbb", "ccccc"]
    assert contents(ctx(store, session_id, maxTokens=1)) == []


def test_recorded_completion_tokens_win_over_the_estimate(store: Store) -> None:
    session_id = start(store, user("x" * 400), assistant("short", usage={"completionTokens": 150}), user("q"))
    # q = 1 token, the assistant message its recorded 150, the long user message 100.
    assert contents(ctx(store, session_id, maxTokens=151)) == ["short", "q"]
    assert contents(ctx(store, session_id, maxTokens=150)) == ["q"]


def test_a_message_that_does_not_fit_ends_the_window_it_is_never_cut(store: Store) -> None:
    session_id = start(store, user("tiny"), user("x" * 4000), user("end"))
    result = ctx(store, session_id, maxTokens=100)
    assert contents(result) == ["end"]  # not the older tiny one beyond the big one, not half the big one


def test_a_tool_result_never_comes_without_its_call(store: Store) -> None:
    session_id = start(
        store,
        user("go"),
        assistant("calling", calls=[("t1", "ls"), ("t2", "cat")]),
        tool("t1", "listing"),
        tool("t2", "file"),
        assistant("done"),
    )
    assert contents(ctx(store, session_id, maxMessages=3)) == ["done"]
    assert contents(ctx(store, session_id, maxMessages=4)) == ["calling", "listing", "file", "done"]


def test_pending_tool_calls_are_the_unanswered_ones(store: Store) -> None:
    session_id = start(store, user("go"), assistant(None, calls=[("t1", "ls"), ("t2", "cat")]), tool("t1", "r"))
    result = ctx(store, session_id)
    assert [(c.id, c.name, c.arguments) for c in result.pending_tool_calls] == [("t2", "cat", {"x": 1})]
    messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session_id, messages=[tool("t2", "r2")]))
    assert ctx(store, session_id).pending_tool_calls == []


def test_compaction_replaces_old_messages_by_the_latest_summary(store: Store) -> None:
    session_id = start(store, *[user(str(n)) for n in range(6)])
    first = context.compact_session(
        store, make(p.CompactSessionParams, sessionId=session_id, summary="s1", preserveCount=4)
    )
    assert first.compacted_count == 2
    second = context.compact_session(
        store, make(p.CompactSessionParams, sessionId=session_id, summary="s2", preserveCount=2)
    )
    assert second.compacted_count == 2
    result = ctx(store, session_id)
    assert result.summary == "s2" and contents(result) == ["4", "5"]
    page = messages.get_messages(store, make(p.GetMessagesParams, sessionId=session_id))
    assert [m.compacted for m in page.messages] == [True] * 4 + [False] * 2  # still readable until purged
    again = context.compact_session(
        store, make(p.CompactSessionParams, sessionId=session_id, summary="s3", preserveCount=5)
    )
    assert again.compacted_count == 0 and ctx(store, session_id).summary == "s3"


def test_messages_appended_after_compaction_join_the_context(store: Store) -> None:
    session_id = start(store, user("old"), user("kept"))
    context.compact_session(store, make(p.CompactSessionParams, sessionId=session_id, summary="sum", preserveCount=1))
    messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session_id, messages=[user("new")]))
    assert contents(ctx(store, session_id)) == ["kept", "new"]


# A conversation as the generator draws it: turns of user text, or an assistant message
# whose tool calls are answered (all, some, or none) by the following tool messages.
turn = st.one_of(
    st.builds(lambda text: [user(text)], st.text(max_size=60)),
    st.integers(min_value=1, max_value=3)
    .flatmap(lambda calls: st.tuples(st.just(calls), st.integers(0, calls), st.text(max_size=80)))
    .map(
        lambda drawn: (
            [assistant(drawn[2] or None, calls=[(f"c{n}", "tool") for n in range(drawn[0])])]
            + [tool(f"c{n}", "r" * (n * 37)) for n in range(drawn[1])]
        )
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    turns=st.lists(turn, min_size=1, max_size=12),
    max_messages=st.none() | st.integers(0, 20),
    max_tokens=st.none() | st.integers(0, 120),
)
def test_context_invariants_hold_for_any_conversation(
    store: Store, turns: list[list[dict[str, Any]]], max_messages: int | None, max_tokens: int | None
) -> None:
    # Tool-call ids are unique per session: number them by turn.
    batch = []
    for number, messages_of_turn in enumerate(turns):
        for message in messages_of_turn:
            message = dict(message)
            if "toolCalls" in message:
                message["toolCalls"] = [{**c, "id": f"{number}-{c['id']}"} for c in message["toolCalls"]]
            if "toolCallId" in message:
                message["toolCallId"] = f"{number}-{message['toolCallId']}"
            batch.append(message)
    session_id = start(store, *batch)
    raw: dict[str, Any] = {}
    if max_messages is not None:
        raw["maxMessages"] = max_messages
    if max_tokens is not None:
        raw["maxTokens"] = max_tokens
    result = ctx(store, session_id, **raw)
    window = result.messages
    indexes = [m.index for m in window]
    assert indexes == sorted(indexes)
    called = {c.id for m in window for c in (m.tool_calls or [])}
    assert all(m.tool_call_id in called for m in window if m.role is p.Role.TOOL)
    if max_messages is not None:
        assert len(window) <= max_messages
    if max_tokens is not None:
        sizes = [math.ceil((len(m.content or "") + len(_calls_json(m))) / 4) for m in window]
        assert sum(sizes) <= max_tokens
    if window:  # the window is the newest stretch: only dropped orphans may sit after its start
        newer = [m for m in batch[window[0].index :]]
        kept = {m.index for m in window}
        for offset, message in enumerate(newer):
            if window[0].index + offset not in kept:
                assert message["role"] == "tool"
    answered = {m["toolCallId"] for m in batch if m["role"] == "tool"}
    asked = [c["id"] for m in batch for c in m.get("toolCalls", [])]
    assert [c.id for c in result.pending_tool_calls] == [c for c in asked if c not in answered]


def _calls_json(message: p.Message) -> str:
    from sidecar.store.records import tool_calls_to_json

    return tool_calls_to_json(message.tool_calls) or ""
