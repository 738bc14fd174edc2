"""tobs-tui: archive Telegram chats into an Obsidian-friendly Markdown vault."""

__version__ = "0.1.0"
