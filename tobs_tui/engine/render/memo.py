"""What both renderers ask of one message, worked out once per render job."""

from __future__ import annotations

from typing import Any

# More than a render job holds: exporter.MERGE_BATCHES history pages of <= 100 messages.
JOB_ENTRIES = 512


class JobMemo:
    """Values keyed by an object's identity, for about one render job. The Markdown and the JSON renderer each
    ask for a message's entity spans and media facts, one right after the other or (a job renders its Markdown
    first) a job apart. An entry holds the object itself, so an id found here cannot be a recycled one."""

    def __init__(self, entries: int = JOB_ENTRIES) -> None:
        self._entries = entries
        self._seen: dict[int, tuple[Any, Any]] = {}

    def get(self, key: object) -> Any:
        """The value kept for `key` (this very object), or None."""
        seen = self._seen.get(id(key))
        return seen[1] if seen is not None and seen[0] is key else None

    def put(self, key: object, value: Any) -> None:
        if len(self._seen) >= self._entries:
            self._seen.clear()
        self._seen[id(key)] = (key, value)
