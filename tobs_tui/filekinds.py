"""What a path holds, in the words a sentence to the user uses: the config's reader and `verify` both name what
they found where a file (or a folder) of their own should be."""

from __future__ import annotations

import stat


def file_kind(mode: int) -> str:
    """ "a file", "a folder", "a named pipe", "a socket", "a device" or "a special file", from an st_mode."""
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"
