from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_lsp

from sidecar.store import Store

from .helpers import HistoryClient, config, init_params


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store(db_path)
    yield opened
    opened.close()


@pytest_lsp.fixture(config=config())
async def client(lsp_client: HistoryClient, db_path: Path) -> AsyncIterator[None]:
    await lsp_client.initialize_session(init_params(db_path))
    yield
    await lsp_client.shutdown_session()
