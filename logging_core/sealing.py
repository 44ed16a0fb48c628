"""Secrets at rest, encrypted: what runwright must keep in clear for a later process (a group
child's unmasked spec, a secret a runner learned mid-run) is stored as a Fernet token.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with a key derived by HKDF-SHA256
from the deployment's secret key: ``RUNWRIGHT_SECRET_KEY`` when set, else Django's
``SECRET_KEY`` (standalone: a random key made once in runwright's data directory). Every
process that reads what another sealed must share it.
"""

from __future__ import annotations

import base64
import os
from functools import cache
from typing import Any


class SealError(ValueError):
    """A token that cannot be opened (another secret key, a damaged token)."""


def _secret() -> bytes:
    own = os.environ.get("RUNWRIGHT_SECRET_KEY")
    if own:
        return own.encode()
    from django.conf import settings

    return str(settings.SECRET_KEY).encode()


@cache
def _fernet(secret: bytes, purpose: bytes) -> Any:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"runwright", info=purpose).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(data: bytes, purpose: bytes) -> str:
    """``data`` as a Fernet token (text), under the key for ``purpose`` (one key per use)."""
    return str(_fernet(_secret(), purpose).encrypt(data).decode())


def unseal(token: str, purpose: bytes) -> bytes:
    """What :func:`seal` sealed. Raises SealError when this process's key cannot open it."""
    from cryptography.fernet import InvalidToken

    try:
        return bytes(_fernet(_secret(), purpose).decrypt(token.encode()))
    except InvalidToken:
        raise SealError("a sealed value cannot be opened with this process's secret key "
                        "(RUNWRIGHT_SECRET_KEY / SECRET_KEY must be the same for every process)") from None


__all__ = ["SealError", "seal", "unseal"]
