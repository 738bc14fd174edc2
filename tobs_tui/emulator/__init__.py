"""A local Telegram DC: a real MTProto server on loopback serving a synthetic world."""
