"""Links planted in the vault, in whole exports against the emulator: the back-fills' staging folder under .tobs
linked to a folder elsewhere (recovery and the splice's cleanup delete nothing there), an earlier download of a
file stored once replaced by a hard link to a file elsewhere (never reused), and video thumbnails made with the
same permissions as the videos."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.integration.engine.test_media import MEDIA_WORLD, fake_ffmpeg
from tests.support.runners import running_emulator
from tests.support.settings import WAIT
from tests.support.vaults import chat_dir, notes_of
from tobs_tui.config import Settings
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.world import World
from tobs_tui.engine import ChatSelection, EngineRunner, ExportRequest
from tobs_tui.engine.snapshot import RunState
from tobs_tui.engine.vault import vault as vault_module
from tobs_tui.engine.vault.filenames import UnsafePathError
from tobs_tui.engine.vault.vault import BACKFILL_DIR, staging_prefix

CHAN = {
    "seed": 7,
    "max_file_size": 20000,
    "generated_users": 8,
    "chats": [{"kind": "channel", "title": "Chan", "messages": 120, "media": 0.3, "span_days": 70}],
}


@dataclasses.dataclass
class Run:
    state: RunState
    errors: tuple[str, ...]


def export(emu, vault: Path, chats, *, media: bool = False, postprocess: bool = False, **selection) -> Run:
    """One whole export of `chats` into `vault`, in this process (a monkeypatch of the engine applies)."""
    base = Settings()
    settings = dataclasses.replace(
        base,
        export=dataclasses.replace(base.export, output_dir=vault, download_media=media),
        workers=dataclasses.replace(base.workers, max_threads=4, media_download_workers=1, postprocess=postprocess),
    )
    runner = EngineRunner(
        settings, session=emu.session_string(), api_id=DEMO_API_ID, api_hash=DEMO_API_HASH, render_in_process=True
    )
    runner.start()
    try:
        assert runner.connect().result(WAIT) is True
        runner.list_dialogs().result(WAIT)
        request = ExportRequest(chats=tuple(ChatSelection(c, **selection) for c in chats))
        final = runner.start_export(request).result(WAIT)
    finally:
        runner.stop()
    return Run(final.state, tuple(final.errors))


def snapshot(folder: Path) -> dict[str, tuple]:
    """Everything under `folder`, links not followed: kind, mode, link count and bytes."""
    out = {}
    for here, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(here) / name
            st = os.lstat(path)
            data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
            out[path.relative_to(folder).as_posix()] = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_nlink, data)
    return out


def someone_elses(tmp_path: Path) -> Path:
    """A folder outside the vault holding files, a subfolder with a file and an empty subfolder."""
    outside = tmp_path / "elsewhere"
    (outside / "sub" / "deeper").mkdir(parents=True)
    (outside / "empty").mkdir()
    (outside / "thesis.docx").write_bytes(b"years of work\n")
    (outside / "sub" / "notes.txt").write_bytes(b"mine\n")
    (outside / "sub" / "deeper" / "draft.md").write_bytes(b"draft\n")
    return outside


@pytest.fixture
def chan():
    with running_emulator(world=World(CHAN)) as emulator:
        yield emulator


def _refused(link: Path) -> str:
    return (
        f"{link} is a symlink inside the export dir; refusing to write through it, so remove the link and run the"
        " export again."
    )


def test_a_backfill_folder_linked_elsewhere_is_refused_and_nothing_there_is_deleted(chan, tmp_path):
    vault, chat = tmp_path / "vault", chan.world.chat_ids()[0]
    assert export(chan, vault, [chat]).state is RunState.DONE
    outside = someone_elses(tmp_path)
    link = vault / BACKFILL_DIR
    link.symlink_to(outside)
    before = snapshot(outside)
    with pytest.raises(UnsafePathError) as refused:
        export(chan, vault, [chat])  # a plain re-run: its recovery looks for staged files left over
    assert str(refused.value) == _refused(link)
    assert snapshot(outside) == before
    assert link.is_symlink(), "the person's link is theirs to remove"
    link.unlink()
    assert export(chan, vault, [chat]).state is RunState.DONE


def test_links_inside_the_backfill_folder_go_as_names_and_what_they_lead_to_stays(chan, tmp_path):
    vault, chat = tmp_path / "vault", chan.world.chat_ids()[0]
    assert export(chan, vault, [chat]).state is RunState.DONE
    outside = someone_elses(tmp_path)
    staging = vault / BACKFILL_DIR
    (staging / "42" / "2025").mkdir(parents=True)
    (staging / "42" / "linked").symlink_to(outside)
    (staging / "42" / "2025" / "2025-10.md").symlink_to(outside / "thesis.docx")
    os.link(outside / "sub" / "notes.txt", staging / "42" / "2025" / "2025-11.md")
    before = snapshot(outside)
    assert export(chan, vault, [chat]).state is RunState.DONE
    after = snapshot(outside)
    assert after.pop("sub/notes.txt")[3] == before.pop("sub/notes.txt")[3], "only its other name went"
    assert after == before
    assert not os.path.lexists(staging / "42")


def test_a_staging_folder_swapped_for_a_link_before_its_cleanup_leaves_the_folder_it_leads_to_alone(
    chan, tmp_path, monkeypatch
):
    vault, chat = tmp_path / "vault", chan.world.chat_ids()[0]
    spec = chan.world.chats[chat]
    ids = list(spec.ids())
    since = datetime.datetime.fromtimestamp(spec.date_of_id(ids[len(ids) // 2]), datetime.UTC).date()
    assert export(chan, vault, [chat], since=since).state is RunState.DONE
    outside = someone_elses(tmp_path)
    before = snapshot(outside)
    staging = vault / staging_prefix(chat).rstrip("/")
    splice = vault_module.ChatWriter._splice

    def splice_then_the_folder_becomes_a_link(self, staged: str, final: str) -> None:
        splice(self, staged, final)
        if not any(files for _, _, files in os.walk(staging)):  # the last staged file is in: only folders left
            staging.rename(tmp_path / "staging-aside")
            staging.symlink_to(outside)

    monkeypatch.setattr(vault_module.ChatWriter, "_splice", splice_then_the_folder_becomes_a_link)
    run = export(chan, vault, [chat], backfill=True)
    monkeypatch.undo()
    assert staging.is_symlink(), "the folder became a link before the cleanup"
    assert snapshot(outside) == before
    assert run.state is RunState.FAILED
    assert any(e.endswith(_refused(staging)) for e in run.errors), run.errors
    assert export(chan, vault, [chat]).state is RunState.DONE
    assert snapshot(outside) == before
    assert not os.path.lexists(staging)
    notes = notes_of(chat_dir(vault, chat))
    assert sorted(i for ids in notes.values() for i in ids) == ids, "the back-fill is whole"


@pytest.fixture
def media_emu():
    with running_emulator(world=World(MEDIA_WORLD)) as emulator:
        yield emulator


def _chat(world: World, title: str) -> int:
    return next(c for c in world.chat_ids() if world.chats[c].title == title)


def _paths(vault: Path, media_id: int, chat: int) -> list[Path]:
    db = sqlite3.connect(vault / ".tobs" / "state.sqlite")
    try:
        rows = db.execute(
            "SELECT path FROM media WHERE media_id = ? AND chat_id = ? AND status = 'done'", (media_id, chat)
        ).fetchall()
    finally:
        db.close()
    return [vault / path for (path,) in rows]


def test_an_earlier_download_replaced_by_a_hard_link_to_a_file_elsewhere_is_not_reused(media_emu, tmp_path):
    world, vault = media_emu.world, tmp_path / "vault"
    first, second = _chat(world, "Media Channel"), _chat(world, "Family")
    shared = world.shared_document_id
    assert export(media_emu, vault, [first], media=True).state is RunState.DONE
    earlier = _paths(vault, shared, first)
    assert earlier
    contract = tmp_path / "contract.pdf"  # someone else's file, of the same size
    contract.write_bytes(b"C" * earlier[0].stat().st_size)
    for path in earlier:
        path.unlink()
        os.link(contract, path)
    links = contract.stat().st_nlink
    assert export(media_emu, vault, [second], media=True).state is RunState.DONE
    new = _paths(vault, shared, second)
    assert new
    for path in new:
        assert not os.path.samestat(path.stat(), contract.stat()), f"{path.name} is the file elsewhere"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == world.sha256_of_media(shared)
    assert contract.stat().st_nlink == links and contract.read_bytes() == b"C" * len(contract.read_bytes())


def test_video_thumbnails_have_the_permissions_of_the_videos(media_emu, tmp_path, monkeypatch):
    fake_ffmpeg(tmp_path, monkeypatch)
    vault = tmp_path / "vault"
    chat = _chat(media_emu.world, "Media Channel")
    assert export(media_emu, vault, [chat], media=True, postprocess=True).state is RunState.DONE
    thumbs = sorted(vault.rglob("*.thumb.jpg"))
    assert thumbs
    umask = os.umask(0)
    os.umask(umask)
    for thumb in thumbs:
        video = thumb.with_name(thumb.name.removesuffix(".thumb.jpg"))
        assert stat.S_IMODE(thumb.stat().st_mode) == stat.S_IMODE(video.stat().st_mode) == 0o644 & ~umask
