"""The one benchmark command: every A/B and whole-system figure against the emulator (in its own process),
written to benchmarks/results/latest.json and latest.md.

    python -m benchmarks.run_all            # the full suite (< 15 min on a 2-core machine)
    python -m benchmarks.run_all --quick    # every row, tiny sizes, one round (< 1 min; the CI smoke run)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# Run in this order: the cheap A/Bs first, the long whole-system runs (1,000,000 messages) last.
MODULES = (
    "ab_senders",
    "ab_pools",
    "ab_concurrency",
    "ab_backoff",
    "ab_latency",
    "ab_media_workers",
    "ab_media",
    "tui_cpu",
    "ab_system",
)


TIMEOUT_S = 600  # per module in the full run (a module may set its own TIMEOUT_S)
QUICK_TIMEOUT_S = 180


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_module(name: str, quick: bool, work: Path) -> tuple[list[dict], str | None]:
    """One module in this process: its rows, and the traceback if it failed."""
    module = importlib.import_module(f"benchmarks.{name}")
    try:
        rows = module.run(quick, work, lambda text: _log(f"  {name}: {text}"))
    except Exception:
        return [], traceback.format_exc()
    return [asdict(r) for r in rows], None


def run_isolated(name: str, quick: bool, work: Path) -> tuple[list[dict], str | None]:
    """One module in a child process with a time limit: a hang or a crash costs that module's rows only, and
    whatever it started (emulator, render workers, an app) ends with its process group."""
    module = importlib.import_module(f"benchmarks.{name}")
    limit = QUICK_TIMEOUT_S if quick else getattr(module, "TIMEOUT_S", TIMEOUT_S)
    out = work / f"{name}.rows.json"
    cmd = [sys.executable, "-m", "benchmarks.run_all", "--module", name, "--rows-out", str(out)]
    child = subprocess.Popen(
        cmd + (["--quick"] if quick else []), cwd=Path(__file__).resolve().parent.parent, start_new_session=True
    )
    try:
        child.wait(limit)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return [], f"{name} did not finish within {limit:.0f} s and was stopped"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # anything it left behind
    if not out.exists():
        return [], f"{name} exited with status {child.returncode} without results"
    got = json.loads(out.read_text(encoding="utf-8"))
    return got["rows"], got["error"]


def run(quick: bool, modules: list[str], write: Callable[[dict], None]) -> dict:
    """Run `modules` one after another; `write` gets the results so far after each one."""
    started = time.time()
    load_before = os.getloadavg()[0]
    machine = _machine()  # the commit the run started from
    sections: list[dict] = []
    rows: list[dict] = []
    command = "python -m benchmarks.run_all" + (" --quick" if quick else "")
    command += "".join(f" --only {m}" for m in modules) if list(modules) != list(MODULES) else ""

    def result() -> dict:
        return {
            "quick": quick,
            "runs": [
                {
                    "command": command,
                    "started_utc": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
                    "seconds": time.time() - started,
                    "machine": {**machine, "load_avg": list(os.getloadavg()), "load_avg_at_start": load_before},
                }
            ],
            "sections": list(sections),
            "rows": list(rows),
        }

    with tempfile.TemporaryDirectory(prefix="tobs-bench-") as tmp:
        for name in modules:
            module = importlib.import_module(f"benchmarks.{name}")
            _log(f"{name}: {module.SECTION}")
            t0 = time.perf_counter()
            got, error = run_isolated(name, quick, Path(tmp))
            if error:
                _log(f"{name} FAILED:\n{error}")
            missing = [r for r in module.ROWS if r not in {row["id"] for row in got}]
            if missing and error is None:
                error = f"{name} did not produce rows {', '.join(missing)}"
                _log(error)
            rows.extend(got)
            sections.append(
                {
                    "module": name,
                    "section": module.SECTION,
                    "seconds": time.perf_counter() - t0,
                    "expected_rows": list(module.ROWS),
                    "error": error,
                    "run": 0,
                }
            )
            write(result())
    return result()


def merge(previous: dict, fresh: dict) -> dict:
    """`fresh` (a run of some modules) replaces those modules' sections and rows in `previous`."""
    if previous.get("quick") != fresh["quick"]:
        raise SystemExit("The results file holds a run of the other mode (--quick or not); run everything again.")
    rerun = {s["module"] for s in fresh["sections"]}
    replaced = {r for s in fresh["sections"] for r in s["expected_rows"]} | {r["id"] for r in fresh["rows"]}
    offset = len(previous["runs"])
    sections = [s for s in previous["sections"] if s["module"] not in rerun]
    sections += [{**s, "run": s["run"] + offset} for s in fresh["sections"]]
    sections.sort(key=lambda s: MODULES.index(s["module"]) if s["module"] in MODULES else len(MODULES))
    return {
        **previous,
        "runs": previous["runs"] + fresh["runs"],
        "sections": sections,
        "rows": [r for r in previous["rows"] if r["id"] not in replaced] + fresh["rows"],
    }


def _machine() -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": list(os.getloadavg()),
        "commit": commit,
    }


def markdown(result: dict) -> str:
    lines = ["# Benchmark results", ""]
    for i, run in enumerate(result["runs"]):
        m = run["machine"]
        modules = ", ".join(s["module"] for s in result["sections"] if s["run"] == i)
        if not modules:
            continue
        lines.append(
            f"- `{run['command']}` — {run['started_utc']}, {run['seconds']:.0f} s, Python {m['python']}, "
            f"{m['cpus']} CPUs (shared), load average {m['load_avg_at_start']:.1f} at the start and "
            f"{m['load_avg'][0]:.1f} at the end, commit {m['commit'] or '?'}: {modules}."
        )
    lines += [
        "",
        "Ratios are medians of per-round ratios (both sides of a round ran back to back); A and B are "
        "median (min–max) over the rounds.",
        "",
    ]
    failures = [sec for sec in result["sections"] if sec["error"]]
    for sec in failures:
        lines += [f"**{sec['module']} failed:**", "", "```", sec["error"].strip(), "```", ""]
    by_section: dict[str, list[dict]] = {}
    for row in result["rows"]:
        by_section.setdefault(row["section"], []).append(row)
    for section in sorted(by_section):  # sections are numbered "1. ..." to "6. ..."
        lines += [
            f"## {section}",
            "",
            "| figure | value | A (mechanism) | B (baseline) | goal | met | design notes | note |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in by_section[section]:
            lines.append(
                "| "
                + " | ".join(
                    _cell(x)
                    for x in (r["name"], _value(r), r["a"], r["b"], r["goal"], _met(r["met"]), r["estimate"], r["note"])
                )
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def _value(row: dict) -> str:
    v = row["value"]
    if v is None:
        return "not measured"
    text = f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    unit = row["unit"]
    text = f"{text}{unit}" if unit == "x" else f"{text} {unit}"
    if row.get("spread"):
        lo, hi = row["spread"]
        text += f" ({lo:.3g}–{hi:.3g})"
    return text


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_all", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and one round: checks the harness, not performance"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=MODULES,
        metavar="MODULE",
        help=f"run only this module (repeatable), replacing its rows in an existing results file: {', '.join(MODULES)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        metavar="DIR",
        help="where latest.json and latest.md go (default: benchmarks/results)",
    )
    parser.add_argument("--module", choices=MODULES, help=argparse.SUPPRESS)  # the child's side
    parser.add_argument("--rows-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.module:
        with tempfile.TemporaryDirectory(prefix=f"tobs-bench-{args.module}-") as tmp:
            rows, error = run_module(args.module, args.quick, Path(tmp))
        write_atomic(args.rows_out, json.dumps({"rows": rows, "error": error}, ensure_ascii=False))
        return 0
    latest = args.out / "latest.json"
    previous = json.loads(latest.read_text(encoding="utf-8")) if args.only and latest.exists() else None

    def write(result: dict) -> None:
        # Re-running some modules updates their rows and keeps the rest of the table.
        if previous is not None:
            result = merge(previous, result)
        write_atomic(latest, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        write_atomic(args.out / "latest.md", markdown(result) + "\n")

    modules = [m for m in MODULES if not args.only or m in args.only]
    result = run(args.quick, modules, write)
    failed = [s["module"] for s in result["sections"] if s["error"]]
    _log(
        f"wrote {latest} and latest.md in {result['runs'][-1]['seconds']:.0f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
