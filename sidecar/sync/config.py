"""Where to sync, and with what credentials: never logged, never on a command line."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import attrs

from .. import protocol as p
from ..errors import invalid
from ..store.encryption import read_secret_file

URL_ENV = "AGENT_HISTORY_SYNC_URL"
TOKEN_ENV = "AGENT_HISTORY_SYNC_TOKEN"
TOKEN_FILE_ENV = "AGENT_HISTORY_SYNC_TOKEN_FILE"
INTERVAL_ENV = "AGENT_HISTORY_SYNC_INTERVAL"
TIMEOUT_ENV = "AGENT_HISTORY_SYNC_TIMEOUT"
DEFAULT_INTERVAL = 10.0
DEFAULT_TIMEOUT = 10.0
SCHEMES = ("libsql", "https", "http")  # Turso Cloud, or a `tursodb --sync-server`


@attrs.frozen
class SyncConfig:
    url: str
    token: str | None = attrs.field(default=None, repr=False)
    interval_seconds: float = DEFAULT_INTERVAL
    timeout_seconds: float = DEFAULT_TIMEOUT  # of each network step

    def environment(self) -> dict[str, str]:
        """How the sync worker process receives this (an environment is private to its user)."""
        values = {URL_ENV: self.url, INTERVAL_ENV: str(self.interval_seconds), TIMEOUT_ENV: str(self.timeout_seconds)}
        return values | ({TOKEN_ENV: self.token} if self.token else {})


def sync_config(options: p.SyncOptions | None) -> SyncConfig | None:
    """From initializationOptions.sync, else from `$AGENT_HISTORY_SYNC_URL`; None: no sync."""
    url = options.url if options is not None else os.environ.get(URL_ENV)
    if not url:
        return None
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in SCHEMES or not parsed.netloc:
        field = "initializationOptions.sync.url" if options is not None else f"${URL_ENV} (--sync-url)"
        raise invalid(field, f"expected a libsql://, https:// or http:// URL, got {url!r}")
    token = os.environ.get(TOKEN_ENV) or None
    token_file = options.auth_token_file if options is not None else None
    token_file = token_file or os.environ.get(TOKEN_FILE_ENV)
    if token is None and token_file:
        token = read_secret_file(Path(token_file).expanduser(), "token file").strip()
    if options is not None:
        return SyncConfig(url, token, options.interval_seconds, options.timeout_seconds)
    interval = float(os.environ.get(INTERVAL_ENV) or DEFAULT_INTERVAL)
    return SyncConfig(url, token, interval, float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT))
