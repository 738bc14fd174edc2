"""A QR code drawn with text blocks (two rows of modules per line), for a Telegram app to scan off the terminal."""

from __future__ import annotations

import io

import segno
from textual.widgets import Static


def qr_text(data: str) -> str:
    """The code as lines of "█", "▀", "▄" and spaces (blocks are light modules), with the quiet border scanners
    need."""
    out = io.StringIO()
    segno.make(data, error="l", micro=False).terminal(out=out, compact=True, border=2)
    return out.getvalue().rstrip("\n")


class QrCode(Static):
    """Shows one code; `show(url)` draws the next."""

    # The blocks are the light modules (segno draws for light text on a dark terminal): pin both colours so the
    # code reads the same on any theme.
    DEFAULT_CSS = """
    QrCode { width: auto; height: auto; color: white; background: black; }
    """

    data = ""  # what the code on screen says

    def show(self, data: str) -> None:
        self.data = data
        self.update(qr_text(data))
