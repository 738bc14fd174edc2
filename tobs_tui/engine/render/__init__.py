"""Message renderers: Markdown notes for the vault and Telegram-Desktop-compatible JSON."""

from __future__ import annotations

from .entities import render_text
from .json_export import chat_header, message_to_json
from .markdown import MediaRef, MonthKeys, RenderContext, ReplyTarget, month_key, render_message
from .media import media_facts, media_kind
from .text import plain_snippet

__all__ = [
    "MediaRef",
    "MonthKeys",
    "RenderContext",
    "ReplyTarget",
    "chat_header",
    "media_facts",
    "media_kind",
    "message_to_json",
    "month_key",
    "plain_snippet",
    "render_message",
    "render_text",
]
