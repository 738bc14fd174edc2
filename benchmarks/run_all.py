"""The one benchmark command: every A/B and whole-system figure against the emulator (in its own process),
written to benchmarks/results/latest.json and latest.md.

    python -m benchmarks.run_all            # the full suite (< 15 min on a 2-core machine)
    python -m benchmarks.run_all --quick    # every row, tiny sizes, one round (< 1 min; the CI smoke run)
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from benchmarks.harness import Row

RESULTS = Path(__file__).resolve().parent / "results"

# Run in this order: the cheap A/Bs first, the long whole-system runs (1,000,000 messages) last.
MODULES = ("ab_senders", "ab_pools", "ab_concurrency", "ab_backoff", "ab_media_workers", "ab_media", "tui_cpu", "ab_system")


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(quick: bool, only: list[str] | None = None) -> dict:
    started = time.time()
    load_before = os.getloadavg()[0]
    modules = [m for m in MODULES if not only or m in only]
    sections: list[dict] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tobs-bench-") as tmp:
        for name in modules:
            module = importlib.import_module(f"benchmarks.{name}")
            _log(f"{name}: {module.SECTION}")
            t0 = time.perf_counter()
            error = None
            got: list[Row] = []
            try:
                got = module.run(quick, Path(tmp), lambda text, n=name: _log(f"  {n}: {text}"))
            except Exception:
                error = traceback.format_exc()
                _log(f"{name} FAILED:\n{error}")
            missing = [r for r in module.ROWS if r not in {row.id for row in got}]
            if missing and error is None:
                error = f"{name} did not produce rows {', '.join(missing)}"
                _log(error)
            rows.extend(got)
            sections.append({"module": name, "section": module.SECTION, "seconds": time.perf_counter() - t0,
                             "expected_rows": list(module.ROWS), "error": error, "run": 0})
    command = "python -m benchmarks.run_all" + (" --quick" if quick else "")
    command += "".join(f" --only {m}" for m in modules) if only else ""
    return {
        "quick": quick,
        "runs": [{"command": command,
                  "started_utc": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
                  "seconds": time.time() - started, "machine": {**_machine(), "load_avg_at_start": load_before}}],
        "sections": sections,
        "rows": [asdict(r) for r in rows],
    }


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
    return {**previous, "runs": previous["runs"] + fresh["runs"], "sections": sections,
            "rows": [r for r in previous["rows"] if r["id"] not in replaced] + fresh["rows"]}


def _machine() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_avg": list(os.getloadavg()), "commit": commit}


def markdown(result: dict) -> str:
    lines = ["# Benchmark results", ""]
    for i, run in enumerate(result["runs"]):
        m = run["machine"]
        modules = ", ".join(s["module"] for s in result["sections"] if s["run"] == i)
        if not modules:
            continue
        lines.append(f"- `{run['command']}` — {run['started_utc']}, {run['seconds']:.0f} s, Python {m['python']}, "
                     f"{m['cpus']} CPUs (shared), load average {m['load_avg_at_start']:.1f} at the start and "
                     f"{m['load_avg'][0]:.1f} at the end, commit {m['commit'] or '?'}: {modules}.")
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
    for section in sorted(by_section):   # sections are numbered "1. ..." to "6. ..."
        lines += [f"## {section}", "",
                  "| figure | value | A (mechanism) | B (baseline) | goal | met | design notes | note |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in by_section[section]:
            lines.append("| " + " | ".join(_cell(x) for x in (
                r["name"], _value(r), r["a"], r["b"], r["goal"], _met(r["met"]), r["estimate"], r["note"]))
                + " |")
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one round: checks the harness, "
                        "not performance")
    parser.add_argument("--only", action="append", choices=MODULES, metavar="MODULE",
                        help=f"run only this module (repeatable), replacing its rows in an existing results file: "
                             f"{', '.join(MODULES)}")
    parser.add_argument("--out", type=Path, default=RESULTS, metavar="DIR",
                        help="where latest.json and latest.md go (default: benchmarks/results)")
    args = parser.parse_args(argv)
    result = run(args.quick, args.only)
    latest = args.out / "latest.json"
    if args.only and latest.exists():
        # Re-running some modules updates their rows and keeps the rest of the table.
        result = merge(json.loads(latest.read_text(encoding="utf-8")), result)
    write_atomic(args.out / "latest.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_atomic(args.out / "latest.md", markdown(result) + "\n")
    failed = [s["module"] for s in result["sections"] if s["error"]]
    _log(f"wrote {args.out / 'latest.json'} and latest.md in {result['runs'][-1]['seconds']:.0f} s"
         + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
