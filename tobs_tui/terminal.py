"""Text from Telegram on a terminal: control, line-break and bidi-control characters shown as visible escapes, so
a title can neither move the cursor, ring the bell, fake a row of a table nor reverse the text after it.

Rich markup is a separate matter: whoever hands such text to Rich passes it as text (`markup=False`, `Text`).
"""

from __future__ import annotations

import json
import re

# C0 and C1 controls (ESC, NUL, BEL, tab, newline, \x85 ...), DEL, the Unicode line and paragraph separators,
# bidi embeddings, overrides and isolates, and lone surrogates (which no terminal encoding can write).
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match) -> str:
    char = match[0]
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def terminal_text(text: str) -> str:
    """`text` on one line with every character a terminal would act on written as an escape (`\\x1b`, `\\n`,
    `\\u202e`); everything else, emoji and right-to-left letters included, stays as it is."""
    return _UNSAFE_RE.sub(_escaped, text)


def _json_escaped(match: re.Match) -> str:
    return f"\\u{ord(match[0]):04x}"


def terminal_json(value: object) -> str:
    """One JSON line, readable (non-ASCII letters as they are) yet holding none of the characters above raw:
    JSON escapes only C0 controls itself, the rest become `\\uXXXX`, which every JSON reader decodes back."""
    return _UNSAFE_RE.sub(_json_escaped, json.dumps(value, ensure_ascii=False))
