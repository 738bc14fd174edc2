"""One digest of everything a vault holds for its reader, to show a change left the output byte for byte alone.

    python scripts/vault_digest.py VAULT [--list FILE]

Hashes every file under VAULT except the engine's own `.tobs/` folder, in sorted path order, with the one field that
changes on every run (`last_export` in the index notes' front matter) blanked. `--list` also writes one line per
file (its hash and path) so two vaults can be compared with `diff`.

To compare two trees of the code: export the demo world with each (`tobs-tui export --emulator lan --all --out
DIR`, with `TOBS_CONFIG=/nonexistent` so no local config changes the output) and compare the two digests.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

_LAST_EXPORT = re.compile(rb"^last_export: .*$", re.MULTILINE)


def file_digest(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".md":
        data = _LAST_EXPORT.sub(b"last_export: -", data)
    return hashlib.sha256(data).hexdigest()


def vault_lines(vault: Path) -> list[str]:
    files = sorted(
        p for p in vault.rglob("*") if p.is_file() and not p.is_symlink() and p.relative_to(vault).parts[0] != ".tobs"
    )
    return [f"{file_digest(p)}  {p.relative_to(vault).as_posix()}" for p in files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vault", type=Path)
    parser.add_argument("--list", type=Path, help="also write one line per file (hash and path) here")
    args = parser.parse_args(argv)
    if not args.vault.is_dir():
        print(f"{args.vault} is not a folder; give the vault's path.", file=sys.stderr)
        return 2
    lines = vault_lines(args.vault)
    text = "".join(line + "\n" for line in lines)
    if args.list:
        args.list.write_text(text, encoding="utf-8")
    print(f"{hashlib.sha256(text.encode()).hexdigest()}  {len(lines)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
