"""Inverting unified diffs (git's extended headers included), so an edit can be undone.

`invert(diff)` returns the patch that takes the edited file back; applying the inverse of
the inverse gives the original diff back. A diff whose hunks do not add up is rejected
with ValueError when it is recorded, so a revert can never fail later.
"""

from __future__ import annotations

import re

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
NO_NEWLINE = "\\ No newline at end of file"
SWAPPED_HEADERS = (
    ("new file mode ", "deleted file mode "),
    ("rename from ", "rename to "),
    ("copy from ", "copy to "),
    ("old mode ", "new mode "),
)


def _swap_prefix(path: str, old: str, new: str) -> str:
    return new + path[len(old) :] if path.startswith(old) else path


def _invert_header(line: str) -> str:
    for first, second in SWAPPED_HEADERS:
        if line.startswith(first):
            return second + line[len(first) :]
        if line.startswith(second):
            return first + line[len(second) :]
    if line.startswith("--- "):
        return "+++ " + _swap_prefix(line[4:], "a/", "b/")
    if line.startswith("+++ "):
        return "--- " + _swap_prefix(line[4:], "b/", "a/")
    if line.startswith("index ") and ".." in line:
        ids, _, mode = line[6:].partition(" ")
        old, new = ids.split("..", 1)
        return f"index {new}..{old}" + (f" {mode}" if mode else "")
    if line.startswith("diff --git a/") and " b/" in line:
        old, new = line[len("diff --git a/") :].split(" b/", 1)
        return f"diff --git a/{new} b/{old}"
    return line


def _reorder_headers(lines: list[str]) -> list[str]:
    """Swapping leaves pairs backwards (`+++` before `---`): restore the order tools expect."""
    result = list(lines)
    for i in range(len(result) - 1):
        for first, second in (("--- ", "+++ "), *SWAPPED_HEADERS):
            if result[i].startswith(second) and result[i + 1].startswith(first):
                result[i], result[i + 1] = result[i + 1], result[i]
    return result


def _invert_hunk(header: re.Match[str], body: list[str]) -> list[str]:
    old_start, old_count, new_start, new_count, tail = header.groups()
    out = [
        f"@@ -{new_start}{',' + new_count if new_count is not None else ''}"
        f" +{old_start}{',' + old_count if old_count is not None else ''} @@{tail}"
    ]
    # Each line with whether a "No newline" marker follows it: the marker moves with its line.
    entries: list[tuple[str, bool]] = []
    for line in body:
        if line == NO_NEWLINE and entries:
            entries[-1] = (entries[-1][0], True)
        else:
            entries.append((line, False))
    removed: list[tuple[str, bool]] = []
    added: list[tuple[str, bool]] = []

    def emit(lines: list[tuple[str, bool]]) -> None:
        for text, marker in lines:
            out.append(text)
            if marker:
                out.append(NO_NEWLINE)

    for text, marker in entries:
        if text.startswith("+"):
            removed.append(("-" + text[1:], marker))
        elif text.startswith("-"):
            added.append(("+" + text[1:], marker))
        else:
            # A run of changes ends: removals first, then additions, as diff tools write them.
            emit(removed + added)
            removed.clear()
            added.clear()
            emit([(text, marker)])
    emit(removed + added)
    return out


def _hunk_counts(body: list[str]) -> tuple[int, int]:
    old = sum(1 for line in body if line[:1] in (" ", "-") or line == "")
    new = sum(1 for line in body if line[:1] in (" ", "+") or line == "")
    return old, new


def invert(diff: str) -> str:
    if not diff.strip():
        return diff
    lines = diff.split("\n")
    trailing_newline = lines[-1] == ""
    if trailing_newline:
        lines.pop()
    out: list[str] = []
    headers: list[str] = []
    position = 0
    saw_hunk = False
    while position < len(lines):
        match = HUNK_HEADER.match(lines[position])
        if match is None:
            if (
                lines[position].startswith((" ", "+", "-"))
                and saw_hunk
                and not lines[position].startswith(("--- ", "+++ "))
            ):
                raise ValueError(f"line {position + 1}: a change line outside any hunk")
            headers.append(_invert_header(lines[position]))
            position += 1
            continue
        out += _reorder_headers(headers)
        headers = []
        saw_hunk = True
        old_count = int(match.group(2) or 1)
        new_count = int(match.group(4) or 1)
        body: list[str] = []
        position += 1
        while position < len(lines) and _hunk_counts(body) != (old_count, new_count):
            body.append(lines[position])
            position += 1
        if _hunk_counts(body) != (old_count, new_count):
            raise ValueError(f"the hunk {match.group(0)!r} has fewer lines than its header says")
        while position < len(lines) and lines[position] == NO_NEWLINE:
            body.append(lines[position])
            position += 1
        out += _invert_hunk(match, body)
    if not saw_hunk and not any(h.startswith(("rename ", "diff --git", "old mode", "new mode")) for h in headers):
        raise ValueError("expected a unified diff: no @@ hunk and no rename or mode header")
    out += _reorder_headers(headers)
    return "\n".join(out) + ("\n" if trailing_newline else "")
