"""Disk type of the export directory's own device, and the media worker count that suits it.

SSDs take many parallel writers, spinning disks thrash when seeks interleave: SSD 8, HDD 3,
unknown 6.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

DiskKind = Literal["ssd", "hdd", "unknown"]
_WORKERS: dict[str, int] = {"ssd": 8, "hdd": 3, "unknown": 6}
MAX_MEDIA_WORKERS = 64
_WINDOWS_SSD_RAM = 8 * 1024**3

# Filesystems whose speed is the network's, not a local disk's.
_NETWORK_FS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "9p",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "sshfs",
    "fuse.rclone",
    "fuse.s3fs",
    "davfs",
    "fuse.davfs2",
    "lustre",
    "beegfs",
    "gpfs",
    "virtiofs",
}
_MEMORY_FS = {"tmpfs", "ramfs"}
_VIRTUAL_BLOCK = {
    "loop": "a loop device (a file on another disk)",
    "zram": "compressed RAM (zram)",
    "nbd": "a network block device",
    "ram": "a RAM disk",
}
# Paravirtual disks (virtio-blk "vda", Xen "xvda") report rotational=1 by default whatever storage backs them,
# so on them "1" says nothing; "0" is only there when the host set it on purpose.
_PARAVIRTUAL_DISKS = ("vd", "xvd")
_MAX_DEPTH = 8  # dm on md on partitions nests a few levels; a cycle must not hang us


@dataclass(frozen=True)
class DiskInfo:
    kind: DiskKind
    device: str | None  # the block device holding the export dir, e.g. "nvme0n1p2", "dm-0"
    reason: str  # why we decided so, for `doctor` and the settings panel


def media_workers_for(kind: str) -> int:
    try:
        return _WORKERS[kind]
    except KeyError:
        raise ValueError(f"unknown disk kind {kind!r}; expected one of {sorted(_WORKERS)}") from None


def _existing(path: Path) -> Path:
    # The export dir may not exist yet; its nearest existing parent lives on the same device.
    p = path.expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p.resolve()  # /proc/mounts lists real paths


def _unescape_mount(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _mount_of(path: Path, proc_root: Path) -> tuple[str, str, str] | None:
    """(source, mount point, fstype) of the mount holding `path`, from /proc/mounts."""
    try:
        text = (proc_root / "mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = str(path)
    best: tuple[str, str, str] | None = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        source, mnt, fstype = _unescape_mount(parts[0]), _unescape_mount(parts[1]), parts[2]
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        # The last of equally long matches wins: it is mounted over the earlier ones.
        if inside and (best is None or len(mnt) >= len(best[1])):
            best = (source, mnt, fstype)
    return best


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _classify(dev: Path, sys_root: Path, depth: int = 0) -> tuple[DiskKind, str]:
    dev = dev.resolve()
    name = dev.name
    for prefix, what in _VIRTUAL_BLOCK.items():
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return "unknown", f"{name} is {what}"
    if depth > _MAX_DEPTH:
        return "unknown", f"{name}: device stack too deep to follow"
    if (dev / "partition").exists():
        disk = dev.parent
        kind, why = _classify(disk, sys_root, depth + 1)
        return kind, f"partition of {why}"
    slaves_dir = dev / "slaves"
    slaves = sorted(slaves_dir.iterdir()) if slaves_dir.is_dir() else []
    if slaves:
        # device-mapper (LUKS, LVM) and md RAID: as slow as their slowest member.
        members = []
        for s in slaves:
            target = s if s.is_symlink() else sys_root / "class" / "block" / s.name
            members.append(_classify(target, sys_root, depth + 1))
        kinds = {k for k, _ in members}
        worst: DiskKind = "hdd" if "hdd" in kinds else "unknown" if "unknown" in kinds else "ssd"
        return worst, f"{name} over [{'; '.join(w for _, w in members)}]"
    rotational = _read(dev / "queue" / "rotational")
    if rotational == "1" and name.startswith(_PARAVIRTUAL_DISKS) and name.lstrip("x").removeprefix("vd").isalpha():
        return "unknown", f"{name} is a virtual disk: its rotational flag does not tell what storage is behind it"
    if rotational == "1":
        return "hdd", f"{name} is rotational"
    if rotational == "0":
        return "ssd", f"{name} is not rotational"
    return "unknown", f"{name} does not say whether it is rotational"


def _detect_linux(path: Path, sys_root: Path, proc_root: Path, st_dev: int | None) -> DiskInfo:
    mount = _mount_of(path, proc_root)
    if mount is not None:
        source, mnt, fstype = mount
        if fstype in _NETWORK_FS or fstype.startswith("fuse.sshfs"):
            return DiskInfo("unknown", None, f"{mnt} is a network filesystem ({fstype})")
        if fstype in _MEMORY_FS:
            return DiskInfo("unknown", None, f"{mnt} is in memory ({fstype})")
    if not (sys_root / "dev" / "block").is_dir():
        return DiskInfo("unknown", None, f"no sysfs at {sys_root}/dev/block to ask")
    dev = os.stat(path).st_dev if st_dev is None else st_dev
    node = sys_root / "dev" / "block" / f"{os.major(dev)}:{os.minor(dev)}"
    if not node.exists():
        # btrfs and overlay report an anonymous device; the mount's source names the real one.
        source = mount[0] if mount else ""
        if source.startswith("/dev/"):
            node = sys_root / "class" / "block" / Path(os.path.realpath(source)).name
        if not node.exists():
            return DiskInfo(
                "unknown",
                None,
                f"device {os.major(dev)}:{os.minor(dev)} of {path} is not a block device "
                "sysfs knows (virtual filesystem?)",
            )
    kind, why = _classify(node, sys_root)
    return DiskInfo(kind, node.resolve().name, why)


def detect_disk(
    path: str | Path,
    *,
    sys_root: str | Path = "/sys",
    proc_root: str | Path = "/proc",
    platform: str = sys.platform,
    st_dev: int | None = None,
    total_ram: Callable[[], int] | None = None,
) -> DiskInfo:
    """Disk type of the device holding `path` (st_dev and total_ram are injectable for tests)."""
    if platform.startswith("linux"):
        return _detect_linux(_existing(Path(path)), Path(sys_root), Path(proc_root), st_dev)
    if platform == "win32":
        if total_ram is None:
            import psutil

            ram = psutil.virtual_memory().total
        else:
            ram = total_ram()
        gb = ram / 1024**3
        if ram > _WINDOWS_SSD_RAM:
            return DiskInfo("ssd", None, f"{gb:.0f} GB of RAM: machines this size ship with SSDs")
        return DiskInfo("unknown", None, f"{gb:.0f} GB of RAM: too little to assume an SSD")
    return DiskInfo("unknown", None, f"no disk-type detection on {platform}")


def resolve_media_workers(
    path: str | Path, configured: int = 0, env: Mapping[str, str] | None = None, **detect_kw
) -> tuple[int, DiskInfo, str]:
    """(workers, disk info, source): `configured` > 0 wins, then MEDIA_WORKERS, then the disk type. 0, in
    either place, means automatic (the rule of the config file and of --media-workers too).

    source is "config", "env" or "auto".
    """
    if configured < 0:
        raise ValueError(f"media_download_workers must be 0 (auto) or a positive number, not {configured}.")
    info = detect_disk(path, **detect_kw)
    if configured > 0:
        return configured, info, "config"
    raw = (os.environ if env is None else env).get("MEDIA_WORKERS", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if not 0 <= value <= MAX_MEDIA_WORKERS:
            raise ValueError(
                f"MEDIA_WORKERS must be 0 (automatic) or a whole number from 1 to {MAX_MEDIA_WORKERS}, not {raw!r};"
                " fix it or unset it."
            )
        if value:
            return value, info, "env"
    workers = media_workers_for(info.kind)
    log.info("media workers: %d (%s disk: %s)", workers, info.kind, info.reason)
    return workers, info, "auto"
