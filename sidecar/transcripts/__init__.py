"""Reading other agents' transcripts (and our own export) into sessions to import.

Each format is a module with `read(path) -> Transcript`; `importer.py` finds the files,
tells the formats apart and writes what they read through the storage core. Readers never
write: a line they cannot use is counted, never fatal. The agents' own formats also have a
`Reader` fed one row at a time, for live capture (sidecar.capture): it hands out the
messages read since it last did, keeping back the last one while more rows may still add
to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlparse

import attrs
import orjson

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession

Compaction = tuple[str, int, str]  # (summary, through_index, created_at)

# The contract's bound on one call's token counts, which keeps a session's sums exact.
MAX_TOKENS: int = attrs.fields(p.Usage).prompt_tokens.metadata["maximum"]


@attrs.define
class Transcript:
    sessions: list[ImportedSession] = attrs.Factory(list)
    skipped_lines: int = 0  # not JSON, not an object, or missing what its kind needs


class Reader(Protocol):
    """A transcript read as it grows: rows in, new messages out."""

    skipped_lines: int

    def feed(self, row: dict[str, Any] | None) -> None:
        """One row of the file (None: a line that is not a JSON object)."""

    def take(self, *, settled: bool) -> list[ImportedSession]:
        """The sessions with what was read since the last take (only new messages and
        compactions). Unless `settled`, a last message that later rows may still add to is
        kept for the next take."""


class RowReader:
    """The part every format's Reader shares: a row it cannot use (not an object, or a known
    kind without the fields that kind must have) is counted, never fatal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.skipped_lines = 0

    def feed(self, row: dict[str, Any] | None) -> None:
        if row is None:
            self.skipped_lines += 1
            return
        self.skipped_lines += take_each([row], self.read_row)

    def read_row(self, row: dict[str, Any]) -> None:
        """Take in one row; raise (Malformed, KeyError, …) for a row that cannot be used."""
        raise NotImplementedError


def read_document_or_log(
    path: Path,
    replay: Callable[[Path], tuple[Any, int]],
    of_document: Callable[[Path, Any], Transcript],
) -> Transcript:
    """A session kept as one JSON document, or as a `.jsonl` log that `replay` turns into
    that document (with how many of its lines it could not apply)."""
    if path.suffix == ".jsonl":
        document, skipped = replay(path)
        transcript = of_document(path, document)
        transcript.skipped_lines += skipped
        return transcript
    return of_document(path, json_document(path))


def read_with(reader: Reader, path: Path) -> Transcript:
    """A whole file at once, through its format's Reader."""
    for row in json_lines(path):
        reader.feed(row)
    return Transcript(reader.take(settled=True), reader.skipped_lines)


@attrs.define
class Taken:
    """How much of one session a Reader has handed out."""

    messages: int = 0
    compactions: int = 0

    def take(
        self, messages: list[ImportedMessage], compactions: list[Compaction], end: int
    ) -> tuple[list[ImportedMessage], list[Compaction]]:
        """The messages up to `end` and the compactions not handed out yet, marked written."""
        new, new_compactions = messages[self.messages : end], compactions[self.compactions :]
        for message in new:
            message.written = True
        self.messages, self.compactions = max(self.messages, end), len(compactions)
        return new, new_compactions


class Malformed(Exception):
    """A line of a known kind without the fields that kind must have."""


Item = TypeVar("Item")
# What reading an item of another program's data raises when the item cannot be used: a
# reader counts it and goes on, never failing a file for one bad line, request or row.
UNUSABLE = (Malformed, KeyError, IndexError, TypeError, ValueError, AttributeError)


def take_each(items: Iterable[Item], take: Callable[[Item], object]) -> int:
    """Hand each item to `take`; how many it could not use."""
    skipped = 0
    for item in items:
        try:
            take(item)
        except UNUSABLE:
            skipped += 1
    return skipped


def token_count(value: Any) -> int:
    """A transcript's token count (absent is 0); one past the contract's bound makes its
    line malformed, as it would overflow its session's sums."""
    count = int(value or 0)
    if not 0 <= count <= MAX_TOKENS:
        raise Malformed(f"token count {count} out of range")
    return count


def _loads(line: bytes) -> Any:
    """orjson reads a line ~4x faster; what it refuses that json takes (an escaped lone
    surrogate, NaN) is read by json, so both accept the same lines."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def json_lines(path: Path) -> Iterator[dict[str, Any] | None]:
    """Each line's JSON object, or None for a line that is not one (blank lines skipped)."""
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield json_row(line)


def json_row(line: bytes) -> dict[str, Any] | None:
    """A line's JSON object, or None when it is not one."""
    try:
        value = _loads(line)
    except ValueError:  # invalid JSON or invalid UTF-8
        return None
    return value if isinstance(value, dict) else None


# ISO 8601 UTC with milliseconds, as the contract writes times (valid when fromisoformat reads it).
CONTRACT_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def stamp(text: Any) -> str:
    """A source timestamp as the contract writes times: ISO 8601 UTC with milliseconds."""
    if not isinstance(text, str):
        raise Malformed("no timestamp")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise Malformed(f"bad timestamp {text!r}") from error
    if CONTRACT_TIME.fullmatch(text):
        return text  # most agents write times so: formatting one again was ~4 µs a message
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _contract_time(moment)


def stamp_millis(millis: float) -> str:
    """Milliseconds since the epoch (as JavaScript keeps times) as the contract writes times."""
    try:
        return _contract_time(datetime.fromtimestamp(millis / 1000, UTC))
    except (ValueError, OverflowError, OSError) as error:  # a time no calendar holds
        raise Malformed(f"bad timestamp {millis!r}") from error


def _contract_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def text_of(content: Any) -> str:
    """The readable text of a content value: a string, or a list of blocks."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return "" if content is None else json.dumps(content, ensure_ascii=False)
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif not isinstance(block, dict):
            continue
        elif isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif block.get("type") in ("image", "input_image"):
            parts.append("[image]")
        elif block.get("type") == "tool_reference":
            parts.append(f"[tool {block.get('tool_name', '')}]")
    return "\n".join(parts)


def json_document(path: Path) -> Any:
    """A whole-file JSON document (the formats that rewrite one file per session), or None
    when the file is not JSON."""
    try:
        return _loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def parsed_arguments(arguments: Any) -> Any:
    """A tool call's arguments: JSON text parsed, anything else (or text that is not JSON) as is."""
    try:
        return json.loads(arguments) if isinstance(arguments, str) and arguments else arguments
    except ValueError:
        return arguments


def folder_path(folder: Any) -> str | None:
    """A folder named as a path or a `file://` URI, as a path (None when there is none)."""
    if not isinstance(folder, str) or not folder:
        return None
    if folder.startswith("file://"):
        return unquote(urlparse(folder).path)
    return folder


def mapping(value: Any) -> dict[str, Any]:
    """A JSON object where one is expected; anything else (absent, null, a string) is empty."""
    return value if isinstance(value, dict) else {}
