"""`ImageStore.delete_prefix` against a real Azurite: a canceled job's folder is emptied — its
images, edit inputs and receipts — and nothing outside it is touched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.storage import naming
from shared.storage.receipts import receipt_name
from shared.storage.store import ImageStore
from tests.integration.blobs import blob_exists

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def put(store: ImageStore, name: str, data: bytes = b"x") -> str:
    await store.ensure_container()
    await store.service.get_blob_client(store.container, name).upload_blob(data)
    return name


async def names(store: ImageStore) -> list[str]:
    container = store.service.get_container_client(store.container)
    return sorted([b.name async for b in container.list_blobs()])


async def test_a_jobs_folder_is_emptied_and_nothing_else_is_touched(store):
    mine = [
        await put(store, naming.blob_name("job1", CREATED, 0, "png")),
        await put(store, naming.blob_name("job1", CREATED, 1, "png")),
        await put(store, receipt_name("job1", CREATED, 0)),
        await put(store, naming.input_blob_name("job1", CREATED, "batch1", 0, "png")),
        await put(store, naming.input_blob_name("job1", CREATED, "batch1", None, "png")),
    ]
    others = [
        await put(store, naming.blob_name("job10", CREATED, 0, "png")),  # the same id prefix
        await put(store, naming.blob_name("job1", datetime(2026, 3, 2, tzinfo=UTC), 0, "png")),
        await put(store, "2026/03/01/job1.png"),
    ]
    folder = naming.job_folder("job1", CREATED)

    assert await store.delete_prefix(f"{folder}/", limit=100) == (len(mine), False)

    assert await names(store) == sorted(others)
    for name in mine:
        assert not await blob_exists(store, name)
    # Again: nothing left to delete, and that is no failure.
    assert await store.delete_prefix(f"{folder}/", limit=100) == (0, False)


async def test_the_deletes_are_bounded_and_say_when_more_are_left(store):
    folder = naming.job_folder("job2", CREATED)
    for index in range(5):
        await put(store, naming.blob_name("job2", CREATED, index, "png"))

    assert await store.delete_prefix(f"{folder}/", limit=2) == (2, True)
    assert await store.delete_prefix(f"{folder}/", limit=2) == (2, True)
    assert await store.delete_prefix(f"{folder}/", limit=2) == (1, False)
    assert await names(store) == []


async def test_a_missing_container_holds_nothing_to_delete(store):
    assert await store.delete_prefix("2026/03/01/job3/", limit=10) == (0, False)


@pytest.mark.parametrize("prefix", ["", "/", "2026/03/01/job1"])
async def test_only_a_folder_prefix_is_taken(store, prefix):
    with pytest.raises(ValueError, match="folder prefix"):
        await store.delete_prefix(prefix, limit=10)


async def test_delete_quietly_counts_what_is_gone(store):
    name = await put(store, naming.blob_name("job4", CREATED, 0, "png"))
    assert await store.delete_quietly([name, "2026/03/01/job4/9.png"]) == 2  # missing: gone too
