"""Media files: the stage contract the pipeline calls before a batch is committed, and the downloader behind it."""
