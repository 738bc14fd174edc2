"""The vault's own notes around the messages: a month note's front matter and link to its chat, and a
chat's index note (front matter, heading, a link to every month note)."""

from __future__ import annotations

import datetime
import json
import re

# Left raw by JSON but not valid, or not kept, inside a YAML double-quoted scalar under YAML 1.1 or 1.2: DEL and
# the C1 controls are not printable, \x85, U+2028 and U+2029 are line breaks YAML 1.1 folds into spaces, a BOM or
# U+FFFE/U+FFFF is not allowed, a lone surrogate cannot be written as UTF-8. Bidi controls too, so the raw file
# reads as it parses.
_YAML_ESCAPED_RE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff\ud800-\udfff]")


def _unicode_escape(match: re.Match) -> str:
    return f"\\u{ord(match[0]):04x}"


def yaml_str(value: str | None) -> str:
    """A YAML double-quoted scalar that parses back to `value` under YAML 1.1 and 1.2 (and is a JSON string)."""
    if value is None:
        return "null"
    return _YAML_ESCAPED_RE.sub(_unicode_escape, json.dumps(value, ensure_ascii=False))


def month_header(chat_id: int, title: str, dir_name: str, month: str) -> str:
    """The start of a new month note: front matter, then a link to the chat's index note."""
    return (
        f"---\nchat_id: {chat_id}\nchat: {yaml_str(title)}\nmonth: \"{month}\"\n---\n\n"
        f"[[{dir_name}/{dir_name}|{dir_name}]] · {month}\n\n"
    )


# The index note is shared: the engine owns its front matter keys (INDEX_KEYS) and the lines between these two
# markers, Obsidian comments that reading view hides; everything else in the note is the user's and is kept as it
# is, byte for byte. Either marker is found by its words alone, whatever else a person typed on its line.
INDEX_BEGIN = (
    "%% tobs-tui: begin. Every export rewrites this part, up to the end marker; write yours above or below it %%"
)
INDEX_END = "%% tobs-tui: end %%"
INDEX_KEYS = ("id", "type", "title", "username", "exported_range", "messages", "last_export")
_BEGIN_RE = re.compile(r"%%\s*tobs-tui:\s*begin\b.*%%")
_END_RE = re.compile(r"%%\s*tobs-tui:\s*end\b.*%%")
_KEY_RE = re.compile(r"([A-Za-z_][\w-]*)[ \t]*:(?:[ \t]|$)")
# A link line of the index note, as every version wrote it: `- [[<chat folder>/<path>|<path>]]`.
_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+\Z")
_LINK_RE = re.compile(r"- \[\[[^/\[\]|]+/([^\[\]|]+)\|([^\[\]|]+)\]\]")


def index_note(
    *,
    chat_id: int,
    kind: str,
    title: str,
    username: str | None,
    first_id: int,
    last_id: int,
    message_count: int,
    last_export: float,
    dir_name: str,
    notes: list[str],
    old: str | None = None,
) -> str:
    """A chat's index note: front matter saying what was exported, then, between INDEX_BEGIN and INDEX_END, a
    heading and a link to each of its month notes (vault paths). `old` is the note as it is now (decoded with
    surrogateescape, so bytes that are not UTF-8 survive): its engine keys and marked part are replaced, and
    everything else in it is kept where it is (merge_index_note)."""
    exported = datetime.datetime.fromtimestamp(last_export, datetime.UTC)
    fields = {
        "id": f"id: {chat_id}",
        "type": f"type: {kind}",
        "title": f"title: {yaml_str(title)}",
        "username": f"username: {yaml_str(username)}",
        "exported_range": f"exported_range: [{first_id}, {last_id}]",
        "messages": f"messages: {message_count}",
        "last_export": f"last_export: \"{exported.isoformat(timespec='seconds')}\"",
    }
    region = [INDEX_BEGIN, f"# {plain_heading(title)}", ""]
    dir_name = _utf8(dir_name)
    for note in map(_utf8, notes):
        label = note.removesuffix(".md").removeprefix(dir_name + "/")
        region.append(f"- [[{note.removesuffix('.md')}|{label}]]")
    region += ["", INDEX_END]
    return merge_index_note(old, fields, [line + "\n" for line in region], title)


def merge_index_note(old: str | None, fields: dict[str, str], region: list[str], title: str) -> str:
    """The engine's front matter lines (`fields`, by key) and marked part (`region`, lines ending in a newline)
    put into `old`, the index note as it is now, keeping every other line of it:

    - front matter: each engine key's line (and any lines continuing its value) becomes the engine's line where
      it stands; other keys, comments and their order are kept; a missing engine key is added after the last
      one present. A note without front matter gets the engine's in front of its text.
    - the marked part: the lines from INDEX_BEGIN to the next INDEX_END are replaced. Without both markers (a
      note written before markers existed, or one a person deleted), the heading and link lines the engine
      wrote right after the remaining marker, or at the top of the text, are taken as the engine's and
      replaced; anything that cannot be told apart from a person's text is kept, and the new part goes where
      the old one began (the top of the text when nothing is found)."""
    # A byte order mark (an editor on Windows wrote the note) stays where it is, before the front matter.
    bom = "\ufeff" if old and old.startswith("\ufeff") else ""
    lines = [] if old is None else _LINE_RE.findall(old[len(bom) :])  # only \n ends a line, as in Obsidian's editor
    matter, body = _split_front_matter(lines)
    out = [bom, "---\n", *_merge_front_matter(matter, fields), "---\n"]
    headings = {f"# {plain_heading(title)}"}
    old_title = _old_title(matter or [])
    if old_title is not None:
        headings.add(f"# {plain_heading(old_title)}")
    before, after = _around_region(body, headings)
    return "".join([*out, *before, *region, *after])


def _split_front_matter(lines: list[str]) -> tuple[list[str] | None, list[str]]:
    """(the lines between the front matter's fences, the lines after it); None when there is none."""
    if not lines or lines[0].rstrip("\r\n") != "---":
        return None, lines
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") in ("---", "..."):
            return lines[1:i], lines[i + 1 :]
    return None, lines  # never closed: not front matter Obsidian would read, so all of it is text


def _merge_front_matter(matter: list[str] | None, fields: dict[str, str]) -> list[str]:
    if not matter:
        return [fields[k] + "\n" for k in INDEX_KEYS]
    # Chunks: a line at the left margin starts one (a key, a comment), lines indented or continuing a block
    # list belong to the one before.
    # Blank lines go with the chunk before only when an indented line follows them (a block scalar's).
    chunks: list[list[str]] = []
    blanks: list[str] = []
    for line in matter:
        if not line.strip():
            blanks.append(line)
            continue
        starts = line[:1] not in (" ", "\t") and not line.startswith(("- ", "-\n", "-\r"))
        if starts or not chunks:
            chunks += [[blank] for blank in blanks]
            chunks.append([line])
        else:
            chunks[-1] += [*blanks, line]
        blanks = []
    chunks += [[blank] for blank in blanks]
    out: list[str] = []
    done: set[str] = set()
    last_engine = -1
    for chunk in chunks:
        match = _KEY_RE.match(chunk[0])
        key = match[1] if match and match[1] in fields else None
        if key is None:
            out += chunk
            continue
        if key not in done:  # a key written twice (YAML refuses that) keeps the engine's first place only
            done.add(key)
            out.append(fields[key] + "\n")
            last_engine = len(out)
    missing = [fields[k] + "\n" for k in INDEX_KEYS if k not in done]
    at = last_engine if last_engine >= 0 else 0
    return out[:at] + missing + out[at:]


def _old_title(matter: list[str]) -> str | None:
    for line in matter:
        if line.startswith("title:"):
            value = line[len("title:") :].strip()
            try:
                parsed = json.loads(value)
            except ValueError:
                return value
            return parsed if isinstance(parsed, str) else None
    return None


def _around_region(body: list[str], headings: set[str]) -> tuple[list[str], list[str]]:
    """(the lines before the engine's part, the lines after it) in the text after the front matter."""
    bare = [line.strip() for line in body]
    begin = next((i for i, b in enumerate(bare) if _BEGIN_RE.fullmatch(b)), None)
    end = next((i for i in range(begin or 0, len(bare)) if _END_RE.fullmatch(bare[i])), None)
    if begin is not None and end is not None:
        return body[:begin], body[end + 1 :]
    if begin is not None:  # the end marker was deleted: what the engine wrote after the begin marker is its
        return body[:begin], _apart(body[_generated_end(bare, begin + 1, headings, required=False) :])
    if end is not None:  # the begin marker was deleted: the engine's heading and links just before the end one
        return body[: _generated_start(bare, end, headings)], body[end + 1 :]
    # No marker (written before markers existed, or deleted with the part): the heading and links the engine
    # wrote at the top are its; otherwise the part goes on top and every line stays below it.
    stop = _generated_end(bare, 0, headings, required=True)
    return ["\n"], _apart(body[stop:])


def _apart(after: list[str]) -> list[str]:
    """A person's text right after the engine's part starts a paragraph of its own."""
    return ["\n", *after] if after and after[0].strip() else after


def _is_link(line: str) -> bool:
    match = _LINK_RE.fullmatch(line)
    return match is not None and match[1] == match[2]


def _generated_end(bare: list[str], i: int, headings: set[str], *, required: bool) -> int:
    """Past the heading and the link lines the engine wrote from line i on (and the blank lines between them);
    i itself when a heading is `required` (a note without markers) and there is none. After a begin marker
    (not `required`) the blank line that stood before the deleted end marker is the engine's too."""
    start = i
    while i < len(bare) and not bare[i]:
        i += 1
    if i < len(bare) and bare[i] in headings:
        i += 1
    elif required:
        return start
    stop = i
    while i < len(bare) and not bare[i]:
        i += 1
    while i < len(bare) and _is_link(bare[i]):
        i += 1
        stop = i
    if not required and stop < len(bare) and not bare[stop]:
        stop += 1  # the blank line that stood before the end marker
    return stop


def _generated_start(bare: list[str], end: int, headings: set[str]) -> int:
    """Back from the end marker at `end` over the link lines, blank lines and the heading the engine wrote
    before it; `end` itself when no heading of the engine's is found there."""
    i = end
    while i > 0 and not bare[i - 1]:
        i -= 1
    while i > 0 and _is_link(bare[i - 1]):
        i -= 1
    while i > 0 and not bare[i - 1]:
        i -= 1
    if i > 0 and bare[i - 1] in headings:
        return i - 1
    return end


def _utf8(text: str) -> str:
    """`text` without lone surrogates, which cannot be written as UTF-8 (the note is written with surrogateescape,
    which keeps the bytes of a person's text that are not UTF-8)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def plain_heading(title: str) -> str:
    return "".join(c if c.isalnum() or c in " -_.,()'&" else " " for c in title).strip() or "Chat"
