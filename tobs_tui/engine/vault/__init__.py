"""The vault on disk: lock, crash recovery, committed appends, atomic writes, the SQLite state, file names and JSONL."""
