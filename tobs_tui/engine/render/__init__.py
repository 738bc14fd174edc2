"""Message renderers: Markdown notes for the vault and Telegram-Desktop-compatible JSON."""
