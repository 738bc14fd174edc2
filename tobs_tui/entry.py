"""The `tobs-tui` command's entry point: only the standard library is imported before the CLI, so a Ctrl-C while
the CLI's modules load (the first tenth of a second) ends the run with exit 130, as one later does, instead of
a traceback. Once the command has said its last word, a Ctrl-C is ignored: Python is only closing then (it waits
for the render workers' threads), and the interrupt would print a traceback over the summary."""

from __future__ import annotations

import signal
import sys
import threading


def main() -> int:
    code = 130
    try:
        from tobs_tui.cli import main as cli_main

        code = cli_main()
    except KeyboardInterrupt:  # while the CLI loads, or as it returned: nothing of the command is left to stop
        pass
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(main())
