"""One file per screen; screens get what they need when built and tell the app by messages."""
