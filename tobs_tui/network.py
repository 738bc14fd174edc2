"""The way to Telegram: a SOCKS or HTTP proxy URL, or an MTProxy link, read and checked into a `Proxy`.

Proxy passwords and MTProxy secrets are secrets: `Proxy.label` and `redacted` never show them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

SOCKS_KINDS = ("socks5", "socks4", "http")
# Lowercase first, as curl reads them; the general ALL_PROXY before the HTTPS one, since Telegram's protocol is
# not HTTPS and socks URLs are usually set there.
ENV_PROXY_VARIABLES = ("all_proxy", "ALL_PROXY", "https_proxy", "HTTPS_PROXY")
PROXY_FORMS = (
    "socks5://[user:password@]host:port, socks4://host:port, http://[user:password@]host:port, "
    "or an MTProxy link tg://proxy?server=HOST&port=PORT&secret=HEX"
)
_HEX = re.compile(r"[0-9a-fA-F]*")


class ProxyError(ValueError):
    """A proxy setting that cannot be used; str() says what is wrong with it (never its password)."""


@dataclass(frozen=True)
class Proxy:
    """Where connections go first. `kind` is "socks5", "socks4", "http" or "mtproxy"."""

    kind: str
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)  # MTProxy: 32 hex digits, or "dd" and 32 for random padding

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def randomized_padding(self) -> bool:
        return self.kind == "mtproxy" and self.secret[:2].lower() == "dd"

    @property
    def label(self) -> str:
        """ "SOCKS5 proxy 127.0.0.1:1080" or "MTProxy 10.0.0.1:443": what sentences and screens name."""
        name = "MTProxy" if self.kind == "mtproxy" else f"{self.kind.upper()} proxy"
        return f"{name} {self.address}"

    def describe(self) -> str:
        """The label with what else is safe to show: the user name, the MTProxy's transport."""
        if self.kind == "mtproxy":
            return f"{self.label} ({'random padding' if self.randomized_padding else 'plain secret'}, secret hidden)"
        if self.username:
            return f"{self.label} (user {self.username}{', password hidden' if self.password else ''})"
        return self.label

    def secrets(self) -> tuple[str, ...]:
        """Every form of its secrets a log could carry, for the log redactor."""
        out = [self.password] if self.password else []
        if self.secret:
            out += [self.secret, self.secret[-32:], self.secret.lower(), self.secret[-32:].lower()]
        return tuple(out)


def _port(text: str | None) -> int:
    if not text or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ProxyError("the port must be a number from 1 to 65535")
    return int(text)


def _mtproxy(query: str) -> Proxy:
    values = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    host = values.get("server", "").strip()
    if not host:
        raise ProxyError("the MTProxy link has no server=")
    port = _port(values.get("port", "").strip())
    secret = values.get("secret", "").strip()
    if secret[:2].lower() == "ee":
        raise ProxyError("fake-TLS secrets (starting with ee) are not supported; ask the proxy's owner for a dd secret")
    core = secret[2:] if secret[:2].lower() == "dd" and len(secret) == 34 else secret
    if len(core) != 32 or not _HEX.fullmatch(core):
        raise ProxyError("the MTProxy secret must be 32 hexadecimal digits, or dd and 32 hexadecimal digits")
    return Proxy("mtproxy", host, port, secret=secret)


def parse_proxy(text: str) -> Proxy | None:
    """The proxy a setting names; "" (or "none") is a direct connection. Raises ProxyError saying what is wrong."""
    text = text.strip()
    if not text or text.lower() == "none":
        return None
    try:
        url = urlsplit(text)
        scheme = url.scheme.lower()
        if (scheme == "tg" and url.netloc.lower() == "proxy") or (
            scheme == "https" and url.netloc.lower() in ("t.me", "telegram.me") and url.path == "/proxy"
        ):
            return _mtproxy(url.query)
        if scheme == "socks5h":
            scheme = "socks5"  # names resolve at the proxy either way
        if scheme not in SOCKS_KINDS:
            raise ProxyError("it does not start with socks5://, socks4://, http:// or tg://proxy?")
        if url.path not in ("", "/") or url.query:
            raise ProxyError("a proxy URL has nothing after host:port")
        host = url.hostname or ""
        if not host:
            raise ProxyError("the host is missing")
        where = url.netloc.rpartition("@")[2]
        port = _port(where.partition("]")[2][1:] if where.startswith("[") else where.partition(":")[2])
    except ValueError as e:  # urlsplit's own complaints (a bad IPv6 literal, a port out of range)
        if isinstance(e, ProxyError):
            raise
        raise ProxyError("it is not a well-formed URL") from None
    return Proxy(scheme, host, port, unquote(url.username or ""), unquote(url.password or ""))


def redacted(text: str) -> str:
    """A proxy setting with its password and secret replaced by "***", even when it does not parse."""
    text = re.sub(r"(//[^/@]*?:)[^/@]*@", r"\1***@", text)
    return re.sub(r"(?i)(secret=)[^&#]*", r"\1***", text)


def env_proxy(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(variable name, value) of the first proxy variable set, in ENV_PROXY_VARIABLES order."""
    for name in ENV_PROXY_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None
