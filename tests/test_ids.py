"""Record ids (store.records.new_id): python-ulid's strict monotonic ULIDs, increasing
within one millisecond, of the time a record was made."""

from __future__ import annotations

from datetime import UTC, datetime

from ulid import ULID

from sidecar.store.records import new_id


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
