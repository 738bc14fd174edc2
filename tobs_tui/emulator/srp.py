"""Server side of Telegram's 2FA SRP (the counterpart of telethon/password.py's client math)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from telethon.tl import types

# Telegram's published 2048-bit safe prime (the one telethon.password accepts without factorising).
PRIME = bytes.fromhex(
    "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4db"
    "fa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64"
    "2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b41"
    "0dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4"
    "e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf"
    "6f4fadf034b10403119cd8e3b92fcc5b"
)
G = 3
_P = int.from_bytes(PRIME, "big")


def _sha256(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def _pad(n: int) -> bytes:
    return n.to_bytes(256, "big")


@dataclass
class _Challenge:
    b: int
    B: int


class SrpVerifier:
    """Holds the password verifier v = g^x mod p and answers account.getPassword / auth.checkPassword."""

    def __init__(self, password: str, salt1: bytes, salt2: bytes):
        self.algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(salt1, salt2, G, PRIME)
        # The same KDF the client runs (telethon.password.compute_hash); done once, it costs ~0.1 s.
        hash1 = _sha256(salt1, password.encode("utf-8"), salt1)
        hash2 = _sha256(salt2, hash1, salt2)
        hash3 = hashlib.pbkdf2_hmac("sha512", hash2, salt1, 100000)
        x = int.from_bytes(_sha256(salt2, hash3, salt2), "big")
        self._v = pow(G, x, _P)
        self._k = int.from_bytes(_sha256(PRIME, _pad(G)), "big")
        self._challenges: dict[int, _Challenge] = {}

    def challenge(self, hint: str | None = None) -> types.account.Password:
        """A fresh account.Password carrying srp_B and srp_id (one challenge per call, as Telegram does)."""
        while True:
            b = secrets.randbits(2048) % _P
            g_b = pow(G, b, _P)
            # The client rejects a g^b that is too small (telethon.password.is_good_mod_exp_first).
            if g_b.bit_length() >= 2048 - 64 and _P - g_b > 0 and (_P - g_b).bit_length() >= 2048 - 64:
                break
        B = (self._k * self._v + g_b) % _P
        srp_id = secrets.randbits(63)
        self._challenges[srp_id] = _Challenge(b, B)
        return types.account.Password(
            new_algo=types.PasswordKdfAlgoUnknown(),
            new_secure_algo=types.SecurePasswordKdfAlgoUnknown(),
            secure_random=secrets.token_bytes(32),
            has_password=True,
            current_algo=self.algo,
            srp_B=_pad(B),
            srp_id=srp_id,
            hint=hint,
        )

    def check(self, srp: types.InputCheckPasswordSRP) -> bool | None:
        """True if the proof M1 matches, False if not, None if srp_id is unknown (a stale challenge)."""
        c = self._challenges.pop(srp.srp_id, None)
        if c is None:
            return None
        A = int.from_bytes(srp.A, "big")
        if not 0 < A < _P:
            return False
        a_bytes, b_bytes = _pad(A), _pad(c.B)
        u = int.from_bytes(_sha256(a_bytes, b_bytes), "big")
        S = pow(A * pow(self._v, u, _P) % _P, c.b, _P)
        K = _sha256(_pad(S))
        h_p, h_g = _sha256(PRIME), _sha256(_pad(G))
        m1 = _sha256(
            bytes(x ^ y for x, y in zip(h_p, h_g)),
            _sha256(self.algo.salt1),
            _sha256(self.algo.salt2),
            a_bytes,
            b_bytes,
            K,
        )
        return hmac.compare_digest(m1, bytes(srp.M1))
