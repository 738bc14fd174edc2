"""Text primitives for the renderers: UTF-16 offsets as Telegram counts them, and Markdown escaping.

Everything that reaches a note as plain text goes through `escape_plain`, so text from Telegram can
never open a heading, list, quote, table, wikilink, embed, tag, block id, comment, math or HTML.
"""

from __future__ import annotations

import bisect
import re
import unicodedata

_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"}
_LINE_BREAK_RE = re.compile("\r\n|[\r\u2028\u2029\x85]")
_NEWLINE_WORK_RE = re.compile("[\r\u2028\u2029\x85\x0b\x0c]")
# Escaped wherever they stand, plus `=` and `%` in runs (`==` highlight, `%%` comment).
_ESCAPE_RE = re.compile(r"[\\`*_~\[\]<>|^#&$]|=(?==)|(?<==)=|%(?=%)|(?<=%)%")
# The same without the runs, for the text that has none: the lookarounds cost at every position.
_ALWAYS_ESCAPED_RE = re.compile(r"[\\`*_~\[\]<>|^#&$]")
# At a line start: indentation, list markers and setext underlines (`-`, `+`, `=`), ordered lists.
_LINE_START_RE = re.compile(r"([ \t]*)(?:([-+=])|(\d+)([.)]))?")
_LINE_START_CHARS = frozenset(" \t-+=0123456789")
# Any character that could make escape_plain change a fragment: what clean, normalize_newlines and
# _ESCAPE_RE act on, `=`/`%` (escaped next to their neighbours) and line breaks (line-start rules).
_MAY_CHANGE_RE = re.compile(
    r"[\\`*_~\[\]<>|^#&$=%\n\r\x85\x0b\x0c\x00-\x08\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
NBSP = "\u00a0"
_UNWRITABLE_RE = re.compile("[\ud800-\udfff\x00]")
# What a note must not carry raw: C0 controls but tab and the line breaks normalize_newlines turns into `\n` or a
# space (\n \v \f \r), DEL, C1 controls but \x85 (a line break too), bidi embeddings, overrides and isolates
# (U+202E makes "gpj.exe" read "exe.jpg"), and lone surrogates, which UTF-8 cannot encode.
_NOT_FOR_NOTES_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# The ASCII ones, for the fast path; C0 controls and DEL become their Unicode control pictures (ESC shows as ␛,
# NUL as ␀), the rest U+FFFD.
_ASCII_CONTROLS = bytes([*range(0x09), *range(0x0E, 0x20), 0x7F])
_NOTE_STANDINS = {chr(c): chr(0x2400 + c) for c in range(0x20)} | {"\x7f": "\u2421"}


def clean(text: str) -> str:
    """Note text: every control and bidi-control character visibly replaced, one char for one (see above).

    Length is preserved so entity offsets computed on the original still line up.
    """
    if not text:
        return ""
    if text.isascii():
        # The common case, checked in C without a regex pass: ASCII has no surrogates, C1 or bidi controls.
        raw = text.encode("ascii")
        if len(raw.translate(None, _ASCII_CONTROLS)) == len(raw):
            return text
    elif not _NOT_FOR_NOTES_RE.search(text):
        return text
    # One regex pass: this runs on every text fragment of every message, so a per-character loop is costly.
    return _NOT_FOR_NOTES_RE.sub(_standin, text)


def _standin(match: re.Match) -> str:
    return _NOTE_STANDINS.get(match[0], "\ufffd")


def writable(text: str) -> str:
    """Data text (result.json): only what UTF-8 cannot hold (lone surrogates) or readers choke on (NUL)
    replaced, one char for one; JSON escapes every other control itself."""
    if not text:
        return ""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNWRITABLE_RE.sub("\ufffd", text)


def normalize_newlines(text: str) -> str:
    """Every line break form a Markdown parser or editor might honour becomes one `\\n`."""
    if not _NEWLINE_WORK_RE.search(text):
        return text  # most fragments have nothing to change: one search instead of a sub and two replaces
    text = _LINE_BREAK_RE.sub(lambda m: _LINE_BREAKS[m.group(0)], text)
    return text.replace("\x0b", " ").replace("\x0c", " ")


_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


def utf16_len(text: str) -> int:
    return len(text) + sum(1 for _ in _ASTRAL_RE.finditer(text))


class Utf16Index:
    """Maps Telegram's UTF-16 code-unit offsets onto Python string indices.

    Only characters outside the BMP (two units each) shift the mapping, so only their positions
    are kept: most texts have none and map one to one.
    """

    def __init__(self, text: str) -> None:
        # The unit offset at which each astral character starts: its index plus the astral ones before it.
        self._astral = (
            []
            if text.isascii() or not _ASTRAL_RE.search(text)
            else [match.start() + n for n, match in enumerate(_ASTRAL_RE.finditer(text))]
        )
        self.length = len(text)
        self.units = self.length + len(self._astral)
        self.identity = not self._astral  # every unit offset is the string index itself

    def _index(self, offset: int, forward: bool) -> int:
        if offset <= 0:
            return 0
        if offset >= self.units:
            return self.length
        before = bisect.bisect_right(self._astral, offset - 2)  # astral characters wholly before
        if before < len(self._astral) and self._astral[before] == offset - 1:
            char = offset - 1 - before  # the offset falls inside this surrogate pair
            return char + 1 if forward else char
        return offset - before

    def start(self, offset: int) -> int:
        """Index of the character containing `offset` (an offset inside a surrogate pair snaps back)."""
        return self._index(offset, False)

    def end(self, offset: int) -> int:
        """Index just past the character containing unit `offset - 1` (a half pair is included)."""
        return self._index(offset, True)

    def span(self, offset: int, length: int) -> tuple[int, int]:
        """Clip an entity to the text; invalid or negative values give an empty span, never an error."""
        try:
            offset = int(offset)
            length = int(length)
        except (TypeError, ValueError):
            return 0, 0
        if length <= 0:
            return 0, 0
        start = self._index(offset, False)  # self.start(offset), one call fewer: this runs for every entity
        end = self._index(offset + length, True)
        return (start, end) if end > start else (0, 0)


def is_space(ch: str) -> bool:
    """CommonMark's Unicode whitespace (Python's isspace also counts \x1c-\x1f, which it does not)."""
    return ch in " \t\n\f\r" or unicodedata.category(ch) == "Zs"


_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def is_punct(ch: str, *, symbols: bool) -> bool:
    """Punctuation for CommonMark's flanking rules.

    Parsers disagree on whether symbols (emoji, currency) count: `symbols=True` says yes, and is
    the cautious reading for a character inside the run, `symbols=False` for one outside it.
    """
    if ch in _ASCII_PUNCT:
        return True
    category = unicodedata.category(ch)
    return category[0] == "P" or (symbols and category[0] == "S")


def escape_plain(text: str, *, line_start: bool, prev: str = "", next_char: str = "") -> str:
    """Escape `text` so it renders literally in Obsidian, whatever surrounds it.

    `line_start`: the text begins at the start of an output line. `prev`: the last character
    already written before it. `next_char`: the first raw character that follows it.
    """
    if not (line_start and text and text[0] in _LINE_START_CHARS) and not _MAY_CHANGE_RE.search(text):
        return text  # most fragments: one regex search in C proves every rule below leaves them alone
    text = normalize_newlines(clean(text))
    if not text:
        return ""
    # Regex passes rather than a loop over characters: this runs on every fragment of every message.
    out = (_ESCAPE_RE if "==" in text or "%%" in text else _ALWAYS_ESCAPED_RE).sub(_backslashed, text)
    first, last = text[0], text[-1]
    if len(text) == 1:
        if first in "=%" and first in (prev, next_char):
            out = "\\" + first
    else:
        if first in "=%" and prev == first and text[1] != first:
            out = "\\" + out
        if last in "=%" and next_char == last and text[-2] != last:
            out = out[:-1] + "\\" + last
    if not line_start and "\n" not in out:
        return out
    lines = out.split("\n")
    for i, line in enumerate(lines):
        if (i or line_start) and line and line[0] in _LINE_START_CHARS:
            lines[i] = _LINE_START_RE.sub(_escape_line_start, line, count=1)
    return "\n".join(lines)


def _backslashed(match: re.Match) -> str:
    # A function, not the template r"\\\g<0>": re expands a template through Python code for every match.
    return "\\" + match[0]


def _escape_line_start(match: re.Match) -> str:
    # Leading indentation would make an indented code block or nest a list; a no-break space
    # keeps the visual indent without meaning anything to the parser.
    indent = match.group(1).replace("\t", NBSP * 4).replace(" ", NBSP)
    if match.group(2):
        return f"{indent}\\{match.group(2)}"
    if match.group(3):
        return f"{indent}{match.group(3)}\\{match.group(4)}"
    return indent


_BACKTICK_RUN_RE = re.compile("`+")
_NOT_LANGUAGE_RE = re.compile(r"[^\w+#.-]")


def _longest_backtick_run(content: str) -> int:
    if "`" not in content:
        return 0
    return max(len(run) for run in _BACKTICK_RUN_RE.findall(content))


def code_span(content: str) -> str:
    """A code span whose fence is longer than any backtick run inside, padded where CommonMark needs it."""
    content = normalize_newlines(clean(content))
    fence = "`" * (_longest_backtick_run(content) + 1)
    if (
        content.startswith("`")
        or content.endswith("`")
        or (content.startswith(" ") and content.endswith(" ") and content.strip(" "))
    ):
        content = f" {content} "
    return f"{fence}{content}{fence}"


def code_fence(content: str, language: str = "") -> str:
    """A fenced code block; the fence is longer than any backtick run so the content cannot close it."""
    content = normalize_newlines(clean(content))
    if content.endswith("\n"):
        content = content[:-1]
    fence = "`" * max(3, _longest_backtick_run(content) + 1)
    language = _NOT_LANGUAGE_RE.sub("", clean(language or ""))[:32]
    return f"{fence}{language}\n{content}\n{fence}"


def plain_snippet(text: str, words: int = 8) -> str:
    """The first `words` words of `text` on one line, with an ellipsis when something was cut."""
    parts = normalize_newlines(clean(text or "")).split()
    if len(parts) <= words:
        return " ".join(parts)
    return " ".join(parts[:words]) + "…"
