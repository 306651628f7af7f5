"""The MCP tools as plain functions over the storage core: arguments in, text out.

Each returns text sized for a model's context, recalled text quoted (see `render`).
Errors are the core's own (InvalidParams naming the tool's argument, SessionNotFound…);
the server turns them into MCP tool errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from .. import figures
from .. import protocol as p
from ..errors import MessageNotFound, invalid
from ..figures import dollars
from ..search import index as search
from ..store import Store, messages, sessions, usage
from ..wire import structure_params, unstructure
from . import access
from .render import CHARS_PER_TOKEN, DATA_NOTE, capped, masked, one_line, quoted, when

ALL_PROJECTS = "all"


def moment(value: str | None, argument: str) -> str | None:
    """An ISO 8601 date or time, or a span back from now ("7d", "12h"), as the store writes times."""
    if value is None:
        return None
    try:
        return figures.moment(value)
    except ValueError:
        raise invalid(
            argument, f'{value!r} is not a time: give an ISO 8601 date or time, or a span such as "7d"'
        ) from None


def _label(session: p.Session) -> str:
    return session.title or session.preview or ""


# -- search_history --------------------------------------------------------------------


def search_history(
    store: Store,
    *,
    query: str,
    project: str | None,
    session_id: str | None,
    roles: Sequence[str] | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> str:
    raw = {
        "query": query,
        "projectId": project,
        "sessionId": session_id,
        "roles": roles,
        "since": moment(since, "since"),
        "until": moment(until, "until"),
        "limit": limit,
    }
    params = structure_params(raw, p.SearchMessagesParams)
    waiting = access.fresh_index(store)
    hits = search.search_messages(store, params).hits
    lines = [f"{len(hits)} hits for {query!r}, best first. {DATA_NOTE}"]
    if waiting:
        lines.append(f"({waiting:,} newest messages are still being indexed and cannot be found yet.)")
    for number, hit in enumerate(hits, 1):
        label = hit.session_title or hit.session_preview or ""
        lines.append(
            f"\n{number}. session {hit.session_id} · project {hit.project_id or '(none)'} · {hit.role.value}"
            f" · {when(hit.created_at)} · message index {hit.index} (id {hit.message_id})"
        )
        lines.append(quoted(f"session: {one_line(label, 120)}\n{hit.snippet}", kind="search-hit"))
    if hits:
        lines.append("\nTo read around a hit: read_session with its session_id and around_message_id (the message id).")
    return "\n".join(lines)


# -- list_sessions ---------------------------------------------------------------------


def list_sessions(
    store: Store,
    *,
    projects: list[str] | None,
    query: str | None,
    since: str | None,
    limit: int,
    cursor: str | None,
) -> str:
    """Sessions, most recently updated first; `projects` the client's roots (first one used)
    or one named project, None for all."""
    project = projects[0] if projects else None
    raw = {"projectId": project, "query": query, "limit": limit, "cursor": cursor}
    result = sessions.list_sessions(store, structure_params(raw, p.ListSessionsParams))
    oldest = moment(since, "since")
    # Newest first: the sessions updated before `since` are a tail, and so are all later pages.
    shown = [session for session in result.sessions if oldest is None or session.updated_at >= oldest]
    next_cursor = result.next_cursor if len(shown) == len(result.sessions) else None
    scope = f"project {project}" if project else "all projects"
    if projects and len(projects) > 1:
        scope += f" (the first of the client's roots; the others: {', '.join(projects[1:])})"
    lines = [f"{len(shown)} sessions in {scope}, most recently updated first. {DATA_NOTE}"]
    listing = [
        f"{session.id} · updated {when(session.last_message_at or session.updated_at)}"
        f" · {session.agent_name or session.kind} · {session.message_count:,} messages"
        f" · project {session.project_id or '(none)'} · {one_line(_label(session), 100)}"
        for session in shown
    ]
    if listing:
        lines.append(quoted("\n".join(listing), kind="session-list"))
    if next_cursor:
        lines.append(f'More: call list_sessions again with the same arguments and cursor="{next_cursor}".')
    if project and not shown and cursor is None:
        lines.append(f'No sessions here; pass project="{ALL_PROJECTS}" to list every project\'s.')
    return "\n".join(lines)


# -- read_session ----------------------------------------------------------------------

BATCH = 100
RESERVED_CHARS = 800  # the header and the paging footer
AROUND_BEFORE = 3  # messages shown before the one asked for


def _message_text(message: p.Message, include_tool_output: bool) -> str:
    if message.role is p.Role.TOOL and not include_tool_output:
        size = len(message.content or "")
        return f"[tool output elided: {size:,} characters; pass include_tool_output=true to see it]"
    parts = [message.content or ""]
    if message.code_excerpt:
        parts.append(f"[code]\n{message.code_excerpt}")
    for call in message.tool_calls or []:
        parts.append(f"[tool call {call.name}] {one_line(masked(json.dumps(call.arguments, ensure_ascii=False)), 400)}")
    return "\n".join(part for part in parts if part)


def _block(message: p.Message, per_message: int, include_tool_output: bool) -> str:
    text = capped(
        _message_text(message, include_tool_output),
        per_message,
        "raise max_chars_per_message to see more",
    )
    return quoted(text, index=message.index, role=message.role.value, id=message.id, at=when(message.created_at))


def _start_index(store: Store, session_id: str, around_message_id: str | None, from_index: int | None) -> int | None:
    if around_message_id is not None:
        index = store.db.scalar(
            "SELECT idx FROM messages WHERE id = ? AND session_id = ?", (around_message_id, session_id)
        )
        if index is None:
            raise MessageNotFound(around_message_id, session_id)
        return max(0, int(index) - AROUND_BEFORE)
    return from_index


def _forward(store: Store, session_id: str, start: int) -> Iterator[p.Message]:
    """The session's messages from index `start` on."""
    while True:
        page = messages.get_messages(
            store, p.GetMessagesParams(session_id=session_id, after_index=start - 1, limit=BATCH)
        )
        yield from page.messages
        if not page.has_more or not page.messages:
            return
        start = page.messages[-1].index + 1


def _backward(store: Store, session_id: str, before: int | None) -> Iterator[p.Message]:
    """The session's messages before index `before` (None: the end), newest first."""
    if before is None:
        last = store.db.scalar("SELECT coalesce(max(idx), -1) FROM messages WHERE session_id = ?", (session_id,))
        before = int(last) + 1
    while True:
        page = messages.get_messages(
            store, p.GetMessagesParams(session_id=session_id, before_index=before, limit=BATCH)
        )
        yield from reversed(page.messages)
        if not page.has_more or not page.messages:
            return
        before = page.messages[0].index


def read_session(
    store: Store,
    *,
    session_id: str,
    around_message_id: str | None,
    from_index: int | None,
    before_index: int | None,
    max_tokens: int,
    max_chars_per_message: int,
    include_tool_output: bool,
) -> str:
    if from_index is not None and (before_index is not None or around_message_id is not None):
        raise invalid("from_index", "give only one of from_index, before_index and around_message_id")
    if before_index is not None and around_message_id is not None:
        raise invalid("before_index", "give only one of before_index and around_message_id")
    session = sessions.load_session(store.db, session_id)
    start = _start_index(store, session_id, around_message_id, from_index)
    budget = max_tokens * CHARS_PER_TOKEN - RESERVED_CHARS
    per_message = min(max_chars_per_message, budget - 200)
    blocks: list[tuple[int, str]] = []
    used = 0
    for message in (
        _forward(store, session_id, start) if start is not None else _backward(store, session_id, before_index)
    ):
        block = _block(message, per_message, include_tool_output)
        if blocks and used + len(block) + 1 > budget:
            break
        blocks.append((message.index, block))
        used += len(block) + 1
    blocks.sort()
    return _page_text(store, session, blocks, max_tokens)


def _page_text(store: Store, session: p.Session, blocks: list[tuple[int, str]], max_tokens: int) -> str:
    label = _label(session)
    last = store.db.scalar("SELECT max(idx) FROM messages WHERE session_id = ?", (session.id,))
    header = (
        f"Session {session.id} · {session.agent_name or session.kind} · project {session.project_id or '(none)'}"
        f" · {session.message_count:,} messages. {DATA_NOTE}\n{quoted(one_line(label, 200), kind='session-title')}"
    )
    if not blocks:
        held = "no messages" if last is None else f"messages 0–{last}"
        return f"{header}\nNo messages on this page: the session holds {held}."
    first, final = blocks[0][0], blocks[-1][0]
    lines = [header, f"Messages {first}–{final} (of 0–{last}), at most ~{max_tokens:,} tokens a page.", ""]
    lines += [block for _, block in blocks]
    if last is not None and final < last:
        lines.append(f'\nNext page: call read_session with session_id="{session.id}" and from_index={final + 1}.')
    if first > 0:
        lines.append(f'Earlier messages: call read_session with session_id="{session.id}" and before_index={first}.')
    return "\n".join(lines)


# -- get_usage -------------------------------------------------------------------------


def _figures(usage_value: p.SessionUsage) -> str:
    fields = unstructure(usage_value)
    return ", ".join(f"{name} {value:,}" for name, value in fields.items() if value) or "no usage recorded"


def get_usage(
    store: Store,
    *,
    group_by: str | None,
    project: str | None,
    session_id: str | None,
    agent: str | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> str:
    raw = {
        "groupBy": group_by,
        "projectId": project,
        "sessionId": session_id,
        "agent": agent,
        "since": moment(since, "since"),
        "until": moment(until, "until"),
    }
    result = usage.get_usage(store, structure_params(raw, p.GetUsageParams))
    lines = [f"Total: {_figures(result.total)}; cost {dollars(result.cost)}."]
    if result.unpriced_models:
        lines.append(f"No price known for {', '.join(result.unpriced_models)}: their calls are left out of cost.")
    if group_by is not None:
        lines.append(f"By {group_by}, largest first ({len(result.groups)} groups):")
        lines += [
            f"- {group.key}: {_figures(group.usage)}; cost {dollars(group.cost, unknown=group.unpriced_calls > 0)}"
            for group in result.groups[:limit]
        ]
        if len(result.groups) > limit:
            lines.append(f"({len(result.groups) - limit} smaller groups left out; raise limit to see them.)")
    return "\n".join(lines)


# -- recent_prompts --------------------------------------------------------------------


def recent_prompts(store: Store, *, project: str | None, limit: int, max_chars_per_prompt: int) -> str:
    params = structure_params({"projectId": project, "limit": limit}, p.RecentPromptsParams)
    prompts = messages.recent_prompts(store, params).prompts
    lines = [f"The {len(prompts)} latest user prompts, newest first. {DATA_NOTE}"]
    for prompt in prompts:
        text = capped(prompt.content, max_chars_per_prompt, "read_session shows the whole prompt")
        lines.append(quoted(text, session=prompt.session_id, id=prompt.message_id, at=when(prompt.created_at)))
    return "\n".join(lines)
