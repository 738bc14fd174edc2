"""The export engine: Telegram source, pipeline, state, and the five mechanisms. Never imports textual."""
