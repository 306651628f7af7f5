"""Encryption at rest: Turso's `aegis256` cipher, with a key the user keeps.

The key comes from `$AGENT_HISTORY_KEY` (64 hex digits), else from a key file (the
`encryptionKeyFile` initialization option, else `$AGENT_HISTORY_KEY_FILE`) that only its
owner may read. It is never logged or echoed: errors name where it came from, not it.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..errors import StorageError

KEY_ENV = "AGENT_HISTORY_KEY"
KEY_FILE_ENV = "AGENT_HISTORY_KEY_FILE"
CIPHER = "aegis256"
KEY_SHAPE = re.compile(r"[0-9a-fA-F]{64}")


def load_key(key_file: Path | None = None) -> str | None:
    """The encryption key, or None when the database is not to be encrypted."""
    text, source = os.environ.get(KEY_ENV, ""), f"${KEY_ENV}"
    if not text:
        if key_file is None and os.environ.get(KEY_FILE_ENV):
            key_file = Path(os.environ[KEY_FILE_ENV])
        if key_file is None:
            return None
        text, source = read_secret_file(key_file.expanduser(), "key file"), str(key_file)
    if not KEY_SHAPE.fullmatch(text.strip()):
        raise StorageError(f"{source}: an encryption key is 64 hex digits (32 bytes), e.g. `openssl rand -hex 32`")
    return text.strip().lower()


def read_secret_file(path: Path, what: str) -> str:
    """A key or token from a file only its owner may read; errors name the file, never its text."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise StorageError(f"{path}: a {what} must be a regular file")
        if stat.S_IMODE(mode) & 0o077:
            raise StorageError(f"{path}: a {what} must be readable by its owner only (chmod 600 {path})")
        return path.read_text()
    except OSError as error:
        raise StorageError(f"cannot read the {what} {path}: {error.strerror}") from None
