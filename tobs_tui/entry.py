"""The `tobs-tui` command's entry point: only the standard library is imported before the CLI, so a Ctrl-C while
the CLI's modules load (the first tenth of a second) ends the run with exit 130, as one later does, instead of
a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from tobs_tui.cli import main as cli_main
    except KeyboardInterrupt:
        return 130
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
