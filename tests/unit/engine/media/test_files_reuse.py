"""An earlier download of a Telegram file reused for another message (a hard link to it): only while it still
holds the bytes downloaded there, checked by their SHA-256, never by the size alone."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tobs_tui.engine.media import files as files_mod
from tobs_tui.engine.media.files import DownloadFailed, MediaFiles
from tobs_tui.engine.media.stage import MediaItem
from tobs_tui.engine.runtime.threads import mark_pool_thread
from tobs_tui.engine.vault.store import MediaRecord
from tobs_tui.engine.vault.vault import Vault

CHAT, MEDIA_ID = -1001, 777
BYTES = b"the handbook as Telegram sent it\n" * 300
SOURCE = "Chat (-1001)/media/document/2025-12/3_Handbook.pdf"
NEW = "Chat (-1001)/media/document/2025-11/80_Handbook.pdf"


@pytest.fixture
def pool():
    """MediaFiles' methods run on a pool thread (@pool_side): one marked as such."""
    with ThreadPoolExecutor(1, initializer=mark_pool_thread) as executor:
        yield lambda fn, *args: executor.submit(fn, *args).result()


@pytest.fixture
def vault(tmp_path):
    v = Vault(tmp_path / "vault")
    v.recover()
    yield v
    v.close()


def downloaded(vault: Vault, rel: str = SOURCE, data: bytes = BYTES, msg_id: int = 3) -> MediaRecord:
    """A file the engine downloaded at `rel`, and its row."""
    path = vault.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    record = MediaRecord(CHAT, msg_id, MEDIA_ID, "document", rel, len(data), len(data), "done", sha)
    vault.store.finish_media(record)
    return record


def item(msg_id: int = 80) -> MediaItem:
    return MediaItem(msg_id, MEDIA_ID, "document", "Handbook.pdf", "application/pdf", len(BYTES), "2025-11")


def someone_elses(tmp_path: Path) -> Path:
    """A file outside the vault of the same size as the download, other bytes."""
    outside = tmp_path / "contract.pdf"
    outside.write_bytes(b"C" * len(BYTES))
    return outside


def test_an_earlier_download_holding_its_bytes_is_reused_by_a_hard_link(vault, pool):
    record = downloaded(vault)
    files = MediaFiles(vault)
    assert pool(files.intact, record)
    path, aside = pool(files.link, CHAT, item(), NEW, SOURCE)
    assert (path, aside) == (NEW, "")
    assert os.path.samefile(vault.root / NEW, vault.root / SOURCE)


def test_an_earlier_download_replaced_by_a_hard_link_to_a_file_elsewhere_is_not_intact(vault, pool, tmp_path):
    record = downloaded(vault)
    outside = someone_elses(tmp_path)
    (vault.root / SOURCE).unlink()
    os.link(outside, vault.root / SOURCE)
    assert not pool(MediaFiles(vault).intact, record)


def test_an_earlier_download_with_other_bytes_of_the_same_size_is_not_intact(vault, pool):
    record = downloaded(vault)
    (vault.root / SOURCE).write_bytes(b"X" * len(BYTES))
    assert not pool(MediaFiles(vault).intact, record)


def test_a_source_changed_after_it_was_checked_is_not_linked(vault, pool, tmp_path):
    """intact() said yes, then the file was swapped for a link to a file elsewhere: no new name for that file."""
    record = downloaded(vault)
    files = MediaFiles(vault)
    assert pool(files.intact, record)
    outside = someone_elses(tmp_path)
    (vault.root / SOURCE).unlink()
    os.link(outside, vault.root / SOURCE)
    with pytest.raises(DownloadFailed, match="no longer holds the file downloaded there"):
        pool(files.link, CHAT, item(), NEW, SOURCE)
    assert not os.path.lexists(vault.root / NEW)
    assert os.stat(outside).st_nlink == 2


def test_a_file_stored_once_is_read_once_for_every_message_that_reuses_it(vault, pool, monkeypatch):
    record = downloaded(vault)
    files = MediaFiles(vault)
    reads = []
    file_digest = hashlib.file_digest

    def counted(f, digest):
        reads.append(f)
        return file_digest(f, digest)

    monkeypatch.setattr(files_mod.hashlib, "file_digest", counted)
    for msg_id in range(80, 85):
        assert pool(files.intact, record)
        pool(files.link, CHAT, item(msg_id), f"Chat (-1001)/media/document/2025-11/{msg_id}_Handbook.pdf", SOURCE)
    assert len(reads) == 1
    assert os.stat(vault.root / SOURCE).st_nlink == 6


def test_a_row_without_a_digest_is_trusted_only_while_its_file_has_no_other_name(vault, pool, tmp_path):
    record = downloaded(vault)
    record = dataclasses.replace(record, sha256=None)
    files = MediaFiles(vault)
    assert pool(files.intact, record)
    os.link(vault.root / SOURCE, tmp_path / "another name")
    assert not pool(files.intact, record)
