"""Recorded edits and their inverse patches, applied for real with git apply."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.errors import InvalidParams, MessageNotFound
from sidecar.store import Store, edits, messages, sessions
from sidecar.store.patches import invert
from sidecar.wire import structure_params

from .helpers import user

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git to apply patches")


def make(cls: type[Any], **raw: Any) -> Any:
    return structure_params(raw, cls)


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=True)
    return result.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "app.py").write_text("def main():\n    print('hello')\n\nmain()\n")
    (root / "notes.txt").write_text("no newline at the end")
    git(root, "add", ".")
    git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "start")
    return root


def snapshot(repo: Path) -> dict[str, str]:
    return {f.name: f.read_text() for f in sorted(repo.iterdir()) if f.is_file()}


def record_change(store: Store, session_id: str, repo: Path, kind: str, path: str, **raw: Any) -> p.Edit:
    """Record what the working tree changed since the index, then stage it (one edit)."""
    git(repo, "add", "-A")
    diff = git(repo, "diff", "--cached", "-M", "HEAD")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", kind)
    params = make(p.RecordEditParams, sessionId=session_id, filePath=path, kind=kind, diff=diff, **raw)
    return edits.record_edit(store, params)


def test_reverting_every_edit_restores_the_files(store: Store, repo: Path) -> None:
    original = snapshot(repo)
    session = sessions.create_session(store, make(p.CreateSessionParams, kind="agent"))
    (repo / "app.py").write_text("def main():\n    print('bye')\n\nmain()\nmain()\n")
    record_change(store, session.id, repo, "replace", "app.py")
    (repo / "new.py").write_text("x = 1\n")
    record_change(store, session.id, repo, "create", "new.py")
    (repo / "notes.txt").rename(repo / "renamed.txt")
    (repo / "renamed.txt").write_text("no newline at the end, still")
    record_change(store, session.id, repo, "rename", "notes.txt", newPath="renamed.txt")
    (repo / "app.py").unlink()
    record_change(store, session.id, repo, "delete", "app.py")

    patches = edits.revert_edits(store, make(p.RevertEditsParams, sessionId=session.id)).patches
    assert [x.file_path for x in patches] == ["app.py", "renamed.txt", "new.py", "app.py"]
    for patch in patches:  # newest first, each applied to the tree as the previous left it
        git(repo, "apply", "--index", "-", stdin=patch.diff)
    assert snapshot(repo) == original


def test_revert_after_an_edit_undoes_only_the_later_ones(store: Store, repo: Path) -> None:
    session = sessions.create_session(store, make(p.CreateSessionParams, kind="agent"))
    (repo / "app.py").write_text("one\n")
    first = record_change(store, session.id, repo, "replace", "app.py")
    after_first = snapshot(repo)
    (repo / "app.py").write_text("two\n")
    record_change(store, session.id, repo, "replace", "app.py")
    patches = edits.revert_edits(store, make(p.RevertEditsParams, sessionId=session.id, afterEditId=first.id)).patches
    assert len(patches) == 1
    git(repo, "apply", "--index", "-", stdin=patches[0].diff)
    assert snapshot(repo) == after_first


def test_inverting_twice_gives_the_diff_back(repo: Path) -> None:
    (repo / "app.py").write_text("changed\n")
    (repo / "notes.txt").write_text("now with newline\n")
    diff = git(repo, "diff")
    assert invert(invert(diff)) == diff


def test_list_edits_by_file_session_and_time(store: Store, repo: Path) -> None:
    a = sessions.create_session(store, make(p.CreateSessionParams, kind="agent"))
    b = sessions.create_session(store, make(p.CreateSessionParams, kind="agent"))
    (repo / "app.py").write_text("a\n")
    first = record_change(store, a.id, repo, "replace", "app.py")
    (repo / "notes.txt").write_text("b\n")
    record_change(store, b.id, repo, "replace", "notes.txt")
    (repo / "app.py").rename(repo / "main.py")
    record_change(store, b.id, repo, "rename", "app.py", newPath="main.py")

    def listed(**raw: Any) -> list[str]:
        return [e.file_path for e in edits.list_edits(store, make(p.ListEditsParams, **raw)).edits]

    assert listed() == ["app.py", "notes.txt", "app.py"]
    assert listed(sessionId=b.id) == ["notes.txt", "app.py"]
    assert listed(filePath="main.py") == ["app.py"]  # found by its new name too
    assert listed(filePath="app.py", sessionId=a.id) == ["app.py"]
    assert listed(since=first.created_at, limit=1) == ["app.py"]


def test_edits_are_checked_when_recorded(store: Store) -> None:
    session = sessions.create_session(store, make(p.CreateSessionParams, kind="agent"))
    with pytest.raises(InvalidParams, match="newPath: required for kind rename"):
        edits.record_edit(store, make(p.RecordEditParams, sessionId=session.id, filePath="a", kind="rename", diff=""))
    with pytest.raises(InvalidParams, match="diff: expected a unified diff"):
        edits.record_edit(
            store, make(p.RecordEditParams, sessionId=session.id, filePath="a", kind="replace", diff="hi")
        )
    bad_hunk = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n-x\n+y\n"
    with pytest.raises(InvalidParams, match="fewer lines"):
        edits.record_edit(
            store, make(p.RecordEditParams, sessionId=session.id, filePath="f", kind="replace", diff=bad_hunk)
        )
    with pytest.raises(MessageNotFound):
        edits.record_edit(
            store,
            make(p.RecordEditParams, sessionId=session.id, messageId="01NOPE", filePath="a", kind="create", diff=""),
        )
    message = messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session.id, messages=[user("x")]))
    edit = edits.record_edit(
        store,
        make(
            p.RecordEditParams,
            sessionId=session.id,
            messageId=message.messages[0].id,
            filePath="a",
            kind="rename",
            diff="",
            newPath="b",
        ),
    )
    assert edit.message_id == message.messages[0].id and edit.kind is p.EditKind.RENAME
