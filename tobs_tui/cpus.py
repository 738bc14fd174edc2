"""How many CPUs this process may use: not the machine's count.

`os.cpu_count()` counts the machine's CPUs. A container given one CPU of a 64-CPU host, or a process started
under `taskset`, runs on fewer; sizing worker processes and thread pools by the machine's count then starts
dozens of processes that only take turns on the one CPU, each with its own memory. This reads the CPUs the
scheduler lets the process run on (its affinity) and the CPU time its control group may use (cgroup v2
`cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), and takes the smaller.

A group's folder is found by joining its path (from /proc/self/cgroup) to the mount, or else the nearest
parent that exists, which inside a container is the container's own group at the mount's root. That is a
guess where /proc/self/mountinfo would say: a limit set on a sub-group inside a container without a cgroup
namespace, or a v1 controller mounted elsewhere than /sys/fs/cgroup/<name>, is not seen, and the process is
taken to have more CPU than it has.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(*, proc_cgroup: Path = Path("/proc/self/cgroup"), cgroup_root: Path = _CGROUP_ROOT) -> int:
    """The CPUs this process can keep busy at once, at least 1 (the paths are parameters for the tests)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on macOS and Windows
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(proc_cgroup=proc_cgroup, cgroup_root=cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def cgroup_cpu_quota(*, proc_cgroup: Path, cgroup_root: Path) -> float | None:
    """CPUs' worth of time the process's control group and its parents allow (the smallest), or None for no
    limit, no control group or one that cannot be read."""
    try:
        lines = proc_cgroup.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in lines:
        # "hierarchy-id:controllers:path"; v2 has the one line "0::/path".
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        if controllers == "":
            limits += _limits(cgroup_root, group, _v2_limit)
        elif "cpu" in controllers.split(","):
            mount = next(
                (cgroup_root / name for name in (controllers, "cpu,cpuacct", "cpu") if _is_dir(cgroup_root / name)),
                None,
            )
            if mount is not None:
                limits += _limits(mount, group, _v1_limit)
    return min(limits) if limits else None


def _groups(base: Path, group: str) -> list[Path]:
    """The group's folder and each parent's up to `base`; a group not under the mount (a container sees its
    own group as the root) reads as the root itself."""
    rel = [part for part in group.strip("/").split("/") if part and part != ".."]
    found = []
    for depth in range(len(rel), -1, -1):
        folder = base.joinpath(*rel[:depth])
        if _is_dir(folder):
            found.append(folder)
    return found


def _is_dir(path: Path) -> bool:
    """Path.is_dir, but False where a sandbox refuses to look or a name is too long (those raise)."""
    return os.path.isdir(path)


def _limits(base: Path, group: str, limit: Callable[[Path], float | None]) -> list[float]:
    """The CPU limit `limit(folder)` reads in the group's folder and each parent's, where there is one."""
    found = []
    for folder in _groups(base, group):
        try:
            value = limit(folder)
        except (OSError, ValueError):
            continue
        if value is not None:
            found.append(value)
    return found


def _v2_limit(folder: Path) -> float | None:
    """cgroup v2's `cpu.max`: "QUOTA PERIOD", or "max PERIOD" for no limit."""
    quota, _, period = (folder / "cpu.max").read_text(encoding="ascii", errors="replace").partition(" ")
    if quota.strip() == "max" or float(period) <= 0:
        return None
    return float(quota) / float(period)


def _v1_limit(folder: Path) -> float | None:
    """cgroup v1's quota and period, each in its own file; a quota of -1 is no limit."""
    quota = float((folder / "cpu.cfs_quota_us").read_text(encoding="ascii", errors="replace"))
    period = float((folder / "cpu.cfs_period_us").read_text(encoding="ascii", errors="replace"))
    return quota / period if quota > 0 and period > 0 else None
