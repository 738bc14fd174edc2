"""The Telegram side: the Telethon client, login, the request source with its adaptive limit, throttle detector and FloodWait backoff, and the fast reply reader."""
