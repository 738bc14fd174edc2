"""The layer rules from docs/ARCHITECTURE.md, checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys


def _modules_after_import(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_engine_never_imports_textual():
    import pkgutil

    import tobs_tui.engine

    names = [m.name for m in pkgutil.walk_packages(tobs_tui.engine.__path__, "tobs_tui.engine.")]
    stmt = "\n".join(f"import {n}" for n in ["tobs_tui.engine", *names])
    mods = _modules_after_import(stmt)
    assert not any(m == "textual" or m.startswith("textual.") for m in mods)


def test_emulator_never_imports_engine_or_ui():
    import pkgutil

    import tobs_tui.emulator

    names = [m.name for m in pkgutil.walk_packages(tobs_tui.emulator.__path__, "tobs_tui.emulator.")]
    stmt = "\n".join(f"import {n}" for n in ["tobs_tui.emulator", *names])
    mods = _modules_after_import(stmt)
    assert not any(m.startswith(("tobs_tui.engine", "tobs_tui.ui", "textual")) for m in mods)
