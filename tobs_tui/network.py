"""The way to Telegram: a SOCKS or HTTP proxy URL, or a proxy link as Telegram shares them, read and checked into
a `Proxy`.

Proxy passwords and MTProxy secrets are secrets: `Proxy.label` and `redacted` never show them.
"""

from __future__ import annotations

import base64
import binascii
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
    "or a proxy link as Telegram shares them (tg://proxy?server=HOST&port=PORT&secret=SECRET, tg://socks?…, "
    "https://t.me/proxy?…)"
)
_HEX = re.compile(r"[0-9a-fA-F]*")
# The hosts of Telegram's web links, as its clients read them (TDLib's LinkManager): t.me and its two aliases.
_T_ME = ("t.me", "telegram.me", "telegram.dog")
_T_ME_START = re.compile(r"(?i)(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)[/:?]")


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
    # MTProxy: its secret in lowercase hex, however it was written: 32 digits, or "dd" and 32 for random padding.
    secret: str = field(default="", repr=False)
    written_secret: str = field(default="", repr=False, compare=False)  # the secret as the link wrote it

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def randomized_padding(self) -> bool:
        """A secret of 17 bytes whose first is 0xdd (a 16-byte one is plain, whatever its first byte)."""
        return self.kind == "mtproxy" and len(self.secret) == 34 and self.secret.startswith("dd")

    @property
    def key(self) -> bytes:
        """An MTProxy's 16-byte key: the secret without its dd."""
        return bytes.fromhex(self.secret[-32:])

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
            out += [self.secret, self.secret[-32:], self.secret.upper(), self.secret[-32:].upper()]
        if self.written_secret:
            out.append(self.written_secret)
        return tuple(out)


def _port(text: str | None) -> int:
    if not text or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ProxyError("the port must be a number from 1 to 65535")
    return int(text)


def _link_values(query: str) -> dict[str, str]:
    return {k: v[0].strip() for k, v in parse_qs(query, keep_blank_values=True).items()}


def _mtproxy(query: str) -> Proxy:
    values = _link_values(query)
    host = values.get("server", "")
    if not host:
        raise ProxyError("the MTProxy link has no server=")
    port = _port(values.get("port"))
    written = values.get("secret", "")
    return Proxy("mtproxy", host, port, secret=mtproxy_secret(written), written_secret=written)


def _socks_link(query: str) -> Proxy:
    """tg://socks?server=…&port=…&user=…&pass=…: a SOCKS5 proxy, as Telegram's clients read the link."""
    values = _link_values(query)
    host = values.get("server", "")
    if not host:
        raise ProxyError("the SOCKS link has no server=")
    return Proxy("socks5", host, _port(values.get("port")), values.get("user", ""), values.get("pass", ""))


def mtproxy_secret(text: str) -> str:
    """An MTProxy secret as Telegram's clients read one (TDLib's ProxySecret): hex in either case, else base64url,
    else base64; 16 bytes is a plain secret whatever its first byte, 17 starting with 0xdd asks for random
    padding, 18 or more starting with 0xee is fake-TLS. Returns it in lowercase hex; raises ProxyError."""
    text = text.strip()
    raw: bytes | None = None
    if len(text) % 2 == 0 and _HEX.fullmatch(text):
        raw = bytes.fromhex(text)
    else:
        padded = text + "=" * (-len(text) % 4)
        for altchars in (b"-_", b"+/"):
            try:
                raw = base64.b64decode(padded, altchars=altchars, validate=True)
                break
            except (binascii.Error, ValueError):
                continue
    if raw is not None and len(raw) >= 18 and raw[0] == 0xEE:
        raise ProxyError(
            "it is a fake-TLS MTProxy (its secret starts with ee), which the Telegram library tobs-tui connects "
            "with cannot speak; ask the proxy's owner for its dd secret, or use another proxy"
        )
    if raw is None or not (len(raw) == 16 or (len(raw) == 17 and raw[0] == 0xDD)):
        raise ProxyError(
            "the MTProxy secret must be 16 bytes, or dd and 16 bytes for random padding, written in hexadecimal "
            "(32 or 34 digits) or base64"
        )
    return raw.hex()


def _telegram_link(text: str) -> Proxy | None:
    """The proxy one of Telegram's own links names (tg:proxy, tg://socks, t.me/proxy, telegram.dog/socks…, with
    or without http(s)://), or None when `text` is not such a link."""
    if _T_ME_START.match(text):
        text = "https://" + text
    url = urlsplit(text)
    scheme = url.scheme.lower()
    if scheme == "tg":
        what = (url.netloc or url.path).strip("/").lower()
    elif scheme in ("http", "https") and (url.hostname or "").removeprefix("www.") in _T_ME:
        if url.port not in (None, 80, 443):
            return None
        what = url.path.strip("/").lower()
    else:
        return None
    if what == "proxy":
        return _mtproxy(url.query)
    if what == "socks":
        return _socks_link(url.query)
    if scheme == "tg":
        raise ProxyError("a tg:// link names a proxy only as tg://proxy?… or tg://socks?…")
    return None


def parse_proxy(text: str) -> Proxy | None:
    """The proxy a setting names; "" (or "none") is a direct connection. Raises ProxyError saying what is wrong."""
    text = text.strip()
    if not text or text.lower() == "none":
        return None
    try:
        link = _telegram_link(text)
        if link is not None:
            return link
        url = urlsplit(text)
        scheme = url.scheme.lower()
        if scheme == "socks5h":
            scheme = "socks5"  # names resolve at the proxy either way
        if scheme not in SOCKS_KINDS:
            raise ProxyError("it does not start with socks5://, socks4://, http://, tg://proxy? or tg://socks?")
        if "@" in url.path + url.query + url.fragment:  # the user name or password holds a / ? or #
            raise ProxyError("a / ? or # in its user name or password must be written percent-encoded (%2F, %3F, %23)")
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
    """A proxy setting with its password and secret replaced by "***", even when it does not parse: a link's
    secret= and pass=, and everything between the first : after a URL's // and its last @: the password, even
    when it or the user name holds an @, / ? or # that should have been percent-encoded."""
    text = re.sub(r"(?i)((?:secret|pass)=)[^&#]*", r"\1***", text)
    return re.sub(r"(//[^:]*?:).*@", r"\1***@", text)


def env_proxy(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(variable name, value) of the first proxy variable set, in ENV_PROXY_VARIABLES order."""
    for name in ENV_PROXY_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None
