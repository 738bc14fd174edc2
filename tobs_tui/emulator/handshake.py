"""Auth key creation for clients that come without one (MTProto 2.0's DH exchange): Telethon runs it on every
data center it meets without a key, after PHONE_MIGRATE and for the sender it borrows for files elsewhere.

The server's RSA key is this emulator's own, fixed and public (it only ever guards loopback); Telethon checks a
server's key against the ones it knows, so `register_public_key` tells the Telethon in this process about it.
"""

from __future__ import annotations

import os
import time
from hashlib import sha1
from typing import Any

import rsa
from telethon.crypto import AES, AuthKey
from telethon.crypto import rsa as telethon_rsa
from telethon.extensions import BinaryReader
from telethon.helpers import generate_key_data_from_nonce
from telethon.tl import functions, types

# Made once with rsa.newkeys(2048): a key generated per start would cost seconds.
PRIVATE_KEY_PEM = b"""-----BEGIN RSA PRIVATE KEY-----
MIIEqgIBAAKCAQEA0CGIB0bB8Z8Q397fNLdemTptW2pMirRHTqQPjPQd44e6XEbp
rTjSSxPWGO7SYbfD8M9BoLHzscQiY1fEaGoLC8LoGAfQEkcHCieAxVzedC44WGld
UYJ3wNA+cvVNkXhRxbnTmGR4fvIOQuLfviGV1zHhQMOsDXjhNBpnxSkWMHKKDktS
PpwxoOa6M3yMFR0uGAtIWu0uwwtidtai+K7exwKVtf8wX8+969OhfXIl1vFLv+6j
wRZG/6PhSA2ro50+SXVxErZnSN7z4yY3hrraZLGdRUrhh/hbdQbpLhIAvbxPUCib
DrkGBUT3e/bBWgFCRDdXZQmAA5iG+6N6WV3VAQIDAQABAoIBAE+OcauuXVYZol6g
l5tT+GID1mdaE5X1YUhrJ9KOQZqGeDLrnEjtblzqYS04pMxbbRdwcbqWKvupaCen
Fdl/p2dAgm0lF2DVK5izDuLiI9ovDLSm2dfdUh8uuqBAqfzQDBnTdVFMHk8QAWmJ
xVKtDdSrKVoTMYIY0URoHNvKAihZzTdZh66mkdLb8HRc/vU2CXv4BZeinh99GCSE
tcKujnz720vNS2EunofSFttxMMCUH5id20AOkoJek0vE6jpRaryJtkBl9t3WE8NA
5/yz6mGdEckWxKHCnLwwG4Mwln0vC1PUYhRRx+ACqK8aaBPf4VwTlD5nWacpClRS
eVN+EAECgYkA+5j6IT8j4RX9JHOyYm+XtdKkZW2mbrISLA8DGy05YiuVjz73NhHs
sPbCx2jFHGc3Us4KgJWznJs/gr6kuoDhXsxGXJqBeYO79IzZ6n4acK1gAtg9T2Cz
n6H8gOUdLkh5VDs014hQjCdryDWP0z/QxSMLKwljmnK0wYfRtMzaog+bHl4rrVDK
QQJ5ANPF2OAr/IPKm6MkvtKm3RNZflYxqGMyCtJwx89g8oN0yADPfoVwN5FouZne
M+ML6jme1yHMwk6txhTCgXDumGVkkX90whFj5TS1j8DFerFCAZknQnTIfKgA7DEo
JTUVzFA6rdQfgCMga+XFvgQ3HHJAEQMm8LrawQKBiCGJos4LvJykcboKMh0tAuwZ
yBA9LZJT6lg1KBTXUm7joGwX2Jw8h3CPdCdgr+W5XIaNMJkzW13k0/J5tzulMmWQ
lVCCx/+Kr+NJY0L+zEd41POMH6AVI9yDm0UTRXCF+KZhvgl9Aj+sgZGOkj12pD2j
DjoOZliQMcgacrnHFN3Fdsf1hZz0yAECeQDL4pdCfBbI66+cCiyNsoj1sBup8HUl
y3AP2vUD+1qApVZJMXumDLvzCthmA0ABP99pSjvlFrWb+kHSitEEYTHnrENIaqjN
BVgOvx5/gaD2N45CXUHmHX+mX/0F9pib2zixpUzmBM3hA73dodunQ0fn1zaJylvK
CgECgYkAhSLOi34dI4M9h+UdK56uusjcFCt6AwoXJmoAlsdysYaWygYXmIzoXfY+
EMg/hH01oOYgxArfsbOyVGxaHuF31Yc1dLr7V+xQ9HEi1ACAAKwVSIcX1hHx6g2z
mnqzWFirfl/0w03oQxx1UdQRIRajuu74Kj8pTVyASvQrN+tC8ZNRzkrreCDlwA==
-----END RSA PRIVATE KEY-----
"""
# A 2048-bit prime made once with rsa.prime.getprime(2048). Telegram's own is a safe prime; the client checks
# only the ranges of g_a and g_b, so any large prime gives the same exchange here.
DH_PRIME = int(
    "eaf399b7732d41606ebfef1b158513e47958125babeaa53157ca287f550ddfc68153ca1f50940317594d347f04b308fb"
    "4d1b5d05e0f723edaec812f6d3cf798abfb979fbce15605571a1bca4c1d4ca08772672e60799230149e63e710a7fe77c"
    "6fff47a7d6fa87ca28f6d43e92c3b3267ee159eba9721b21f9891ea87f30ef4ea1d7477a52cbd260643fb788a3b7f711"
    "a0a0691ed375c21b6ab4e9e83216e3933464bf5780bc2e3a6abcdb34bd21affcaa0439a759abdb610f896bc0cff3c9c6"
    "8f9ace55133f0cb6a574f4eb228ce10d097b27015239d4f68cecdca0e799cb555bfad0b9d94d9b8bf2a7edb20cee43aa"
    "d5a7893299c1075fafe410bcd1afa0a5",
    16,
)
G = 3
_PQ = (1_000_000_007, 1_500_000_001)  # two primes the client factors, as Telegram's pq

_private = rsa.PrivateKey.load_pkcs1(PRIVATE_KEY_PEM)
PUBLIC_KEY_PEM = rsa.PublicKey(_private.n, _private.e).save_pkcs1().decode()
FINGERPRINT = telethon_rsa._compute_fingerprint(_private)


def register_public_key() -> None:
    """Let this process's Telethon accept the emulator's RSA key (idempotent)."""
    telethon_rsa.add_key(PUBLIC_KEY_PEM, old=False)


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


class KeyExchange:
    """One connection's DH exchange: req_pq_multi, req_DH_params, set_client_DH_params; `auth_key` at the end."""

    def __init__(self) -> None:
        self.auth_key: bytes | None = None
        self._nonce = 0
        self._server_nonce = 0
        self._new_nonce = 0
        self._a = 0
        self._key_iv: tuple[bytes, bytes] = (b"", b"")

    def answer(self, request: Any) -> Any | None:
        """The plain-text reply to one step, or None for anything that is not the next step (the caller closes)."""
        if isinstance(request, (functions.ReqPqMultiRequest, functions.ReqPqRequest)):
            self._nonce = request.nonce
            self._server_nonce = int.from_bytes(os.urandom(16), "little", signed=True)
            pq = telethon_rsa.get_byte_array(_PQ[0] * _PQ[1])
            return types.ResPQ(self._nonce, self._server_nonce, pq, [FINGERPRINT])
        if isinstance(request, functions.ReqDHParamsRequest) and self._server_nonce:
            return self._dh_params(request)
        if isinstance(request, functions.SetClientDHParamsRequest) and self._a:
            return self._dh_gen(request)
        return None

    def _dh_params(self, request: Any) -> Any | None:
        if (request.nonce, request.server_nonce) != (self._nonce, self._server_nonce):
            return None
        if request.public_key_fingerprint != FINGERPRINT:
            return None
        plain = pow(_int(request.encrypted_data), _private.d, _private.n).to_bytes(255, "big")
        inner = BinaryReader(plain[20:]).tgread_object()
        if not isinstance(inner, types.PQInnerData) or sha1(bytes(inner)).digest() != plain[:20]:
            return None
        if (_int(inner.p), _int(inner.q)) != _PQ or inner.nonce != self._nonce:
            return None
        self._new_nonce = inner.new_nonce
        self._a = _int(os.urandom(256)) % DH_PRIME
        g_a = pow(G, self._a, DH_PRIME)
        answer = bytes(
            types.ServerDHInnerData(
                self._nonce,
                self._server_nonce,
                G,
                telethon_rsa.get_byte_array(DH_PRIME),
                telethon_rsa.get_byte_array(g_a),
                int(time.time()),
            )
        )
        data = sha1(answer).digest() + answer
        data += os.urandom(-len(data) % 16)
        self._key_iv = generate_key_data_from_nonce(self._server_nonce, self._new_nonce)
        return types.ServerDHParamsOk(self._nonce, self._server_nonce, AES.encrypt_ige(data, *self._key_iv))

    def _dh_gen(self, request: Any) -> Any | None:
        if (request.nonce, request.server_nonce) != (self._nonce, self._server_nonce):
            return None
        plain = AES.decrypt_ige(request.encrypted_data, *self._key_iv)
        inner = BinaryReader(plain[20:]).tgread_object()
        if not isinstance(inner, types.ClientDHInnerData):
            return None
        key = telethon_rsa.get_byte_array(pow(_int(inner.g_b), self._a, DH_PRIME))
        self.auth_key = key
        new_nonce_hash = AuthKey(key).calc_new_nonce_hash(self._new_nonce, 1)
        return types.DhGenOk(self._nonce, self._server_nonce, new_nonce_hash)
