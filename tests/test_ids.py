"""Record ids (store.records.new_id): ULIDs as python-ulid's strict monotonic generator
wrote them, the same text for the same 128 bits, increasing within one millisecond."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from ulid import ULID

from sidecar.store.records import IDS, MAX_MILLISECONDS, encode_ulid, new_id


def test_a_ulid_is_written_as_python_ulid_writes_it() -> None:
    values = [0, 1, 31, 1 << 80, (1 << 128) - 1, *(int.from_bytes(os.urandom(16)) for _ in range(1000))]
    assert [encode_ulid(value) for value in values] == [str(ULID.from_int(value)) for value in values]


def test_ids_of_one_millisecond_increase_by_one_and_hold_that_time() -> None:
    at = "2025-03-04T05:06:07.891Z"
    ids = [ULID.from_str(new_id(at)) for _ in range(50)]
    milliseconds = int(datetime(2025, 3, 4, 5, 6, 7, 891000, tzinfo=UTC).timestamp() * 1000)
    assert {ulid.milliseconds for ulid in ids} == {milliseconds}
    assert [int(ulid) for ulid in ids] == list(range(int(ids[0]), int(ids[0]) + 50))


def test_ids_of_other_times_take_fresh_randomness_and_sort_by_time() -> None:
    first, second, now = new_id("2025-01-01T00:00:00.000Z"), new_id("2025-01-01T00:00:00.001Z"), new_id()
    assert first < second < now
    assert int(ULID.from_str(second)) - int(ULID.from_str(first)) != 1 << 80  # not the same randomness + 1 ms


@pytest.mark.parametrize("milliseconds", [-1, MAX_MILLISECONDS + 1])
def test_a_time_a_ulid_cannot_hold_is_refused(milliseconds: int) -> None:
    with pytest.raises(ValueError, match="outside what a ULID holds"):
        IDS.generate(milliseconds)
