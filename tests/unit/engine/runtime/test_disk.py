"""Disk detection on fake sysfs trees built in tmp_path, and the media worker count it yields."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tobs_tui.engine.runtime.disk import DiskInfo, detect_disk, media_workers_for, resolve_media_workers


class FakeSys:
    """A sysfs tree shaped like the kernel's: devices under /sys/devices, links in /sys/dev/block."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "dev" / "block").mkdir(parents=True)
        (root / "class" / "block").mkdir(parents=True)

    def disk(self, rel: str, *, rotational: int | None = None, partition: int | None = None) -> Path:
        d = self.root / "devices" / rel
        d.mkdir(parents=True)
        if rotational is not None:
            (d / "queue").mkdir()
            (d / "queue" / "rotational").write_text(f"{rotational}\n")
        if partition is not None:
            (d / "partition").write_text(f"{partition}\n")
        (self.root / "class" / "block" / d.name).symlink_to(d)
        return d

    def number(self, majmin: str, d: Path) -> int:
        (self.root / "dev" / "block" / majmin).symlink_to(d)
        major, minor = map(int, majmin.split(":"))
        return os.makedev(major, minor)

    def slaves(self, d: Path, *members: Path) -> None:
        (d / "slaves").mkdir()
        for m in members:
            (d / "slaves" / m.name).symlink_to(m)


@pytest.fixture
def fs(tmp_path):
    return FakeSys(tmp_path / "sys")


@pytest.fixture
def export_dir(tmp_path):
    d = tmp_path / "vault"
    d.mkdir()
    return d


def detect(export_dir, fs, dev, **kw):
    return detect_disk(
        export_dir, sys_root=fs.root, proc_root=fs.root.parent / "proc", platform="linux", st_dev=dev, **kw
    )


def test_nvme_partition_is_ssd(fs, export_dir):
    fs.disk("pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1", rotational=0)
    part = fs.disk("pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1/nvme0n1p2", partition=2)
    info = detect(export_dir, fs, fs.number("259:2", part))
    assert info == DiskInfo("ssd", "nvme0n1p2", info.reason)
    assert "nvme0n1" in info.reason and "not rotational" in info.reason


def test_sata_hdd_partition(fs, export_dir):
    fs.disk("pci0000:00/ata1/host0/target0:0:0/0:0:0:0/block/sda", rotational=1)
    part = fs.disk("pci0000:00/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1", partition=1)
    info = detect(export_dir, fs, fs.number("8:1", part))
    assert (info.kind, info.device) == ("hdd", "sda1")
    assert "sda is rotational" in info.reason


def test_whole_disk_without_partition(fs, export_dir):
    sdb = fs.disk("pci0000:00/ata2/block/sdb", rotational=1)
    assert detect(export_dir, fs, fs.number("8:16", sdb)).kind == "hdd"


@pytest.mark.parametrize("name", ["vda", "xvdb"])
def test_paravirtual_disk_claiming_rotational_is_unknown(fs, export_dir, name):
    # virtio-blk and Xen disks say rotational=1 by default; a partition of one asks the disk.
    fs.disk(f"pci0000:00/virtio2/block/{name}", rotational=1)
    part = fs.disk(f"pci0000:00/virtio2/block/{name}/{name}1", partition=1)
    info = detect(export_dir, fs, fs.number("252:1", part))
    assert info.kind == "unknown" and "virtual disk" in info.reason
    assert media_workers_for(info.kind) == 6


def test_paravirtual_disk_marked_non_rotational_is_ssd(fs, export_dir):
    vd = fs.disk("pci0000:00/virtio3/block/vdc", rotational=0)
    assert detect(export_dir, fs, fs.number("252:32", vd)).kind == "ssd"


def test_dm_crypt_on_ssd_follows_slaves(fs, export_dir):
    fs.disk("pci/nvme0n1", rotational=0)
    part = fs.disk("pci/nvme0n1/nvme0n1p3", partition=3)
    # dm devices often claim rotational=1 whatever lies below; the slaves decide.
    dm = fs.disk("virtual/block/dm-0", rotational=1)
    fs.slaves(dm, part)
    info = detect(export_dir, fs, fs.number("253:0", dm))
    assert (info.kind, info.device) == ("ssd", "dm-0")
    assert "nvme0n1" in info.reason


def test_md_raid_with_one_rotational_member_is_hdd(fs, export_dir):
    fs.disk("pci/sda", rotational=0)
    a = fs.disk("pci/sda/sda1", partition=1)
    fs.disk("pci/sdb", rotational=1)
    b = fs.disk("pci/sdb/sdb1", partition=1)
    md = fs.disk("virtual/block/md0", rotational=0)
    fs.slaves(md, a, b)
    info = detect(export_dir, fs, fs.number("9:0", md))
    assert (info.kind, info.device) == ("hdd", "md0")
    assert "sdb is rotational" in info.reason


def test_lvm_on_md_on_ssds_nests(fs, export_dir):
    a = fs.disk("pci/nvme0n1", rotational=0)
    b = fs.disk("pci/nvme1n1", rotational=0)
    md = fs.disk("virtual/block/md1", rotational=0)
    fs.slaves(md, a, b)
    dm = fs.disk("virtual/block/dm-1", rotational=1)
    fs.slaves(dm, md)
    assert detect(export_dir, fs, fs.number("253:1", dm)).kind == "ssd"


def test_slave_member_that_cannot_tell_makes_unknown(fs, export_dir):
    a = fs.disk("pci/sdc", rotational=0)
    b = fs.disk("pci/sdd")
    md = fs.disk("virtual/block/md2", rotational=0)
    fs.slaves(md, a, b)
    info = detect(export_dir, fs, fs.number("9:2", md))
    assert info.kind == "unknown"
    assert "sdd does not say" in info.reason


def test_loop_device_is_unknown(fs, export_dir):
    loop = fs.disk("virtual/block/loop3", rotational=0)
    info = detect(export_dir, fs, fs.number("7:3", loop))
    assert (info.kind, info.device) == ("unknown", "loop3")
    assert "loop device" in info.reason


def test_zram_is_unknown(fs, export_dir):
    zram = fs.disk("virtual/block/zram0", rotational=0)
    assert detect(export_dir, fs, fs.number("252:0", zram)).kind == "unknown"


def test_no_sysfs(tmp_path, export_dir):
    info = detect_disk(
        export_dir,
        sys_root=tmp_path / "nothing",
        proc_root=tmp_path / "noproc",
        platform="linux",
        st_dev=os.makedev(8, 1),
    )
    assert (info.kind, info.device) == ("unknown", None)
    assert "no sysfs" in info.reason


def test_device_sysfs_does_not_know(fs, export_dir):
    info = detect(export_dir, fs, os.makedev(0, 45))
    assert info.kind == "unknown" and "0:45" in info.reason


def write_mounts(fs, lines: str) -> None:
    proc = fs.root.parent / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "mounts").write_text(lines)


@pytest.mark.parametrize("fstype", ["nfs4", "cifs", "fuse.sshfs"])
def test_network_filesystem_is_unknown(fs, export_dir, fstype):
    ssd = fs.disk("pci/sda", rotational=0)
    dev = fs.number("8:0", ssd)
    write_mounts(fs, f"/dev/sda / ext4 rw 0 0\nserver:/share {export_dir} {fstype} rw 0 0\n")
    info = detect(export_dir / "not" / "yet" / "made", fs, dev)
    assert info.kind == "unknown"
    assert fstype in info.reason and "network" in info.reason


def test_mount_point_with_space_and_tmpfs(fs, tmp_path):
    spaced = tmp_path / "my vault"
    spaced.mkdir()
    escaped = str(spaced).replace(" ", "\\040")
    write_mounts(fs, f"/dev/sda / ext4 rw 0 0\ntmpfs {escaped} tmpfs rw 0 0\n")
    info = detect(spaced, fs, os.makedev(0, 50))
    assert info.kind == "unknown" and "in memory" in info.reason


def test_anonymous_device_falls_back_to_mount_source(fs, export_dir):
    # btrfs gives files an anonymous st_dev (major 0); /proc/mounts names the real partition.
    fs.disk("pci/nvme0n1", rotational=0)
    fs.disk("pci/nvme0n1/nvme0n1p2", partition=2)
    write_mounts(fs, f"/dev/nvme0n1p2 {export_dir} btrfs rw 0 0\n")
    info = detect(export_dir, fs, os.makedev(0, 33))
    assert (info.kind, info.device) == ("ssd", "nvme0n1p2")


def test_real_machine_gives_an_answer(tmp_path):
    info = detect_disk(tmp_path)
    assert info.kind in ("ssd", "hdd", "unknown") and info.reason


def test_windows_ram_heuristic(tmp_path):
    big = detect_disk(tmp_path, platform="win32", total_ram=lambda: 16 * 1024**3)
    small = detect_disk(tmp_path, platform="win32", total_ram=lambda: 8 * 1024**3)
    assert big.kind == "ssd" and "16 GB" in big.reason
    assert small.kind == "unknown"
    assert detect_disk(tmp_path, platform="win32").kind in ("ssd", "unknown")  # real psutil


def test_other_platforms_are_unknown(tmp_path):
    info = detect_disk(tmp_path, platform="darwin")
    assert info.kind == "unknown" and "darwin" in info.reason


def test_media_workers_for():
    assert (media_workers_for("ssd"), media_workers_for("hdd"), media_workers_for("unknown")) == (8, 3, 6)
    with pytest.raises(ValueError):
        media_workers_for("tape")


def test_resolve_media_workers_precedence(fs, export_dir):
    sda = fs.disk("pci/sda", rotational=1)
    kw = dict(sys_root=fs.root, proc_root=fs.root.parent / "proc", platform="linux", st_dev=fs.number("8:0", sda))
    assert resolve_media_workers(export_dir, env={}, **kw)[::2] == (3, "auto")
    assert resolve_media_workers(export_dir, env={"MEDIA_WORKERS": " 12 "}, **kw)[::2] == (12, "env")
    assert resolve_media_workers(export_dir, env={"MEDIA_WORKERS": ""}, **kw)[::2] == (3, "auto")
    workers, info, source = resolve_media_workers(export_dir, configured=5, env={"MEDIA_WORKERS": "12"}, **kw)
    assert (workers, info.kind, source) == (5, "hdd", "config")


def test_resolve_media_workers_reads_the_process_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIA_WORKERS", "2")
    assert resolve_media_workers(tmp_path)[::2] == (2, "env")


def test_media_workers_zero_means_automatic_as_in_the_config(fs, export_dir):
    sda = fs.disk("pci/sda", rotational=1)
    kw = dict(sys_root=fs.root, proc_root=fs.root.parent / "proc", platform="linux", st_dev=fs.number("8:0", sda))
    assert resolve_media_workers(export_dir, env={"MEDIA_WORKERS": "0"}, **kw)[::2] == (3, "auto")


@pytest.mark.parametrize("raw", ["abc", "-3", "65", "2.5"])
def test_invalid_media_workers_env_is_one_clear_sentence(tmp_path, raw):
    with pytest.raises(ValueError) as e:
        resolve_media_workers(tmp_path, env={"MEDIA_WORKERS": raw})
    msg = str(e.value)
    assert msg.startswith("MEDIA_WORKERS must be 0 (automatic) or a whole number from 1 to 64") and repr(raw) in msg


def test_negative_configured_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="media_download_workers"):
        resolve_media_workers(tmp_path, configured=-1, env={})
