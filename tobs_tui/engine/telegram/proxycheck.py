"""Why a connection through the proxy failed, as one sentence naming the proxy (never its password).

Telethon retries a failing proxy and then reports only that the connection failed; after that this dials the
proxy once more itself to say whether it refused, stayed silent or turned the user name and password down.
"""

from __future__ import annotations

import asyncio

import python_socks

from tobs_tui.network import Proxy

# What a failed connect raises: Telethon's own ConnectionError, a timeout, or (had python-socks' asyncio module been
# imported before Telethon patched its errors) python-socks' own ProxyError.
CONNECT_ERRORS = (TimeoutError, OSError, python_socks.ProxyError)

_FIX = "check [network] proxy in the config or --proxy"


async def proxy_failure(proxy: Proxy, dest_host: str, dest_port: int, timeout_s: float) -> str:
    """One sentence on what went wrong between us, `proxy` and the Telegram address behind it."""
    name = proxy.label
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(proxy.host, proxy.port), timeout_s)
    except TimeoutError:
        return f"The {name} did not answer within {timeout_s:g} s; check that it runs and is reachable, or {_FIX}."
    except ConnectionRefusedError:
        return f"The {name} refused the connection (nothing listens there); start it or {_FIX}."
    except OSError as e:
        reason = e.strerror or type(e).__name__
        return f"Could not reach the {name} ({reason}); {_FIX}."
    writer.close()
    if proxy.kind == "mtproxy":
        return (
            f"The {name} took the connection but Telegram never answered through it; check its secret "
            f"(ask the proxy's owner) or {_FIX}."
        )
    # Imported only now, after Telethon has dialled through it: Telethon swaps python-socks' error classes for
    # ConnectionError ones before its first import of this module, and its retries rely on that.
    from python_socks.async_.asyncio import Proxy as SocksProxy

    socks = SocksProxy.create(
        python_socks.ProxyType[proxy.kind.upper()],
        proxy.host,
        proxy.port,
        proxy.username or None,
        proxy.password or None,
        rdns=True,
    )
    try:
        sock = await socks.connect(dest_host=dest_host, dest_port=dest_port, timeout=timeout_s)
    except (python_socks.ProxyError, python_socks.ProxyTimeoutError, OSError) as e:
        # Telethon replaces python-socks' error classes with ConnectionError subclasses: both kinds land here.
        text = str(e).lower()
        code = getattr(e, "error_code", None)
        if "authentication failure" in text or code == 407:
            return f"The {name} rejected the user name or password; correct them in the proxy URL ({_FIX})."
        if "no acceptable authentication" in text:
            return f"The {name} wants a user name and password; put them in the proxy URL ({_FIX})."
        if "closed" in text and proxy.username:
            return (
                f"The {name} closed the connection during its handshake, which is how some proxies turn a user "
                f"name or password down; check them in the proxy URL ({_FIX})."
            )
        if "closed" in text:
            return (
                f"The {name} closed the connection during its handshake; it may want a user name and password ({_FIX})."
            )
        if isinstance(e, TimeoutError) or "timed out" in text:
            return f"The {name} did not answer within {timeout_s:g} s; check that it runs, or {_FIX}."
        return f"The {name} would not connect on to Telegram ({e}); {_FIX}."
    sock.close()
    return f"Telegram did not answer through the {name}, though the proxy itself works; try again in a moment."
