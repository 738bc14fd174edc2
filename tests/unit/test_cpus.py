"""The CPUs a process may use, read from its affinity and control group files (written here on a temp dir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tobs_tui.cpus import cgroup_cpu_quota, usable_cpus
from tobs_tui.engine.render.workers import MAX_RENDER_WORKERS, render_workers_for


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")


def _quota(tmp_path: Path, proc: str) -> float | None:
    _write(tmp_path / "proc", proc)
    return cgroup_cpu_quota(proc_cgroup=tmp_path / "proc", cgroup_root=tmp_path / "cg")


def test_a_v2_group_limit_and_its_stricter_parent(tmp_path):
    _write(tmp_path / "cg/app/cpu.max", "150000 100000\n")
    assert _quota(tmp_path, "0::/app\n") == 1.5
    _write(tmp_path / "cg/app/job/cpu.max", "max 100000\n")  # no limit of its own: its parent's holds
    assert _quota(tmp_path, "0::/app/job\n") == 1.5
    _write(tmp_path / "cg/app/job/cpu.max", "50000 100000\n")
    assert _quota(tmp_path, "0::/app/job\n") == 0.5


def test_a_container_sees_its_own_group_at_the_root(tmp_path):
    # Without a cgroup namespace /proc/self/cgroup names the host's path, which the container's mount lacks.
    _write(tmp_path / "cg/cpu.max", "100000 100000\n")
    assert _quota(tmp_path, "0::/docker/0123abcd\n") == 1.0


def test_a_v1_cpu_controller(tmp_path):
    _write(tmp_path / "cg/cpu,cpuacct/cpu.cfs_quota_us", "200000\n")
    _write(tmp_path / "cg/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert _quota(tmp_path, "4:memory:/x\n3:cpu,cpuacct:/\n0::/\n") == 2.0
    _write(tmp_path / "cg/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")  # v1's "no limit"
    assert _quota(tmp_path, "3:cpu,cpuacct:/\n") is None


@pytest.mark.parametrize("proc", ["", "0::/\n", "garbage\n", "0::/app\n"])
def test_no_limit_no_group_or_unreadable_files_mean_no_limit(tmp_path, proc):
    _write(tmp_path / "cg/app/cpu.max", "not numbers\n")
    assert _quota(tmp_path, proc) is None
    assert cgroup_cpu_quota(proc_cgroup=tmp_path / "missing", cgroup_root=tmp_path / "cg") is None


def test_usable_cpus_takes_the_smaller_of_affinity_and_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    _write(tmp_path / "proc", "0::/app\n")
    _write(tmp_path / "cg/app/cpu.max", "max 100000\n")
    assert usable_cpus(proc_cgroup=tmp_path / "proc", cgroup_root=tmp_path / "cg") == affinity
    _write(tmp_path / "cg/app/cpu.max", "10000 100000\n")  # a tenth of a CPU is still one to run on
    assert usable_cpus(proc_cgroup=tmp_path / "proc", cgroup_root=tmp_path / "cg") == 1
    _write(tmp_path / "cg/app/cpu.max", f"{(affinity + 5) * 100000} 100000\n")
    assert usable_cpus(proc_cgroup=tmp_path / "proc", cgroup_root=tmp_path / "cg") == affinity


def test_render_workers_none_on_one_cpu_and_a_few_on_many():
    assert render_workers_for(1) == 0
    assert render_workers_for(2) == 2
    assert render_workers_for(64) == MAX_RENDER_WORKERS == 3


def test_a_group_path_the_system_cannot_look_up_is_no_limit_not_an_error(tmp_path):
    # A name longer than the system allows raises from Path.is_dir (as a folder a sandbox refuses to enter does).
    (tmp_path / "cg" / "cpu").mkdir(parents=True)
    assert _quota(tmp_path, "0::/" + "a" * 300 + "\n3:cpu:/" + "b" * 300 + "\n") is None
