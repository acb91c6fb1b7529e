"""Webhook secrets at rest: sealed with a key the notifications service alone holds.

A subscription's webhook secret is what its receiver checks our signatures with, so
anyone who reads it can forge deliveries. The log, the read model and every answer keep
only its ciphertext (Fernet: AES-128-CBC with HMAC-SHA256, authenticated), opened by the
workers at the moment they sign.

The key file holds one Fernet key a line, the first one sealing and all of them opening
(MultiFernet): to rotate, put a new key first, keep the old ones below it, run
``reseal_secrets`` (each secret is then sealed again under the new key, as new events),
and remove the old key afterwards. Keys come from configuration:
  SECRETS_KEY_FILE (env NOTIFICATIONS_SECRETS_KEY_FILE)  the key file, readable by the
      notifications service and its workers alone.
Under `make run` and the tests, without one, a development key is made once in the keys
folder beside the instances' development signing keys (shared.signing).

Secrets themselves follow Standard Webhooks: ``whsec_`` and the base64 of 24 to 64 random
bytes, the bytes being the HMAC key. Subscriptions made before 2027 kept a plain text
secret (at least 16 characters) whose UTF-8 bytes are its key; they still deliver.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.signing import default_keys_dir

log = logging.getLogger(__name__)
DEV_KEY_NAME = "notifications-webhook-secrets.key"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # what Standard Webhooks allows
WEBHOOK_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]+={0,2}$")


class SealingError(Exception):
    """A sealed secret that none of our keys opens (a key removed too early, or not ours)."""


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def is_webhook_secret(value: str) -> bool:
    """``whsec_`` and the base64 of 24 to 64 bytes."""
    if not WEBHOOK_SECRET.match(value):
        return False
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return False
    return SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: the bytes a ``whsec_`` secret encodes; a legacy plain
    secret's own UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX):])
    return secret.encode()


class SecretBox:
    """Seals and opens webhook secrets with the service's keys (the first one seals)."""

    def __init__(self, keys: list[bytes | str]):
        if not keys:
            raise ValueError("a secret box needs at least one Fernet key")
        self._fernets = [Fernet(key) for key in keys]
        self._box = MultiFernet(self._fernets)

    def seal(self, secret: str) -> str:
        return self._box.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._box.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealingError("a sealed webhook secret opens with none of the service's keys") from None

    def is_current(self, sealed: str) -> bool:
        """Sealed under the key that seals now? (If not, ``reseal`` it.)"""
        try:
            self._fernets[0].decrypt(sealed.encode())
            return True
        except InvalidToken:
            return False

    def reseal(self, sealed: str) -> str:
        """The same secret sealed under the current key."""
        try:
            return self._box.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise SealingError("a sealed webhook secret opens with none of the service's keys") from None


def read_keys(path: str | os.PathLike) -> list[bytes]:
    """Fernet keys, one a line, newest first; blank lines and ``#`` comments ignored."""
    keys = [line.strip().encode() for line in Path(path).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise ValueError(f"{path}: no Fernet key in the file")
    return keys


def load_secret_box(key_file: str | os.PathLike | None = None,
                    keys_dir: str | os.PathLike | None = None) -> SecretBox:
    """The box of ``key_file``; if none is configured, the development key in ``keys_dir``
    (by default the instances' keys folder), made once."""
    if key_file:
        return SecretBox(read_keys(key_file))
    folder = Path(keys_dir) if keys_dir else default_keys_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DEV_KEY_NAME
    if not target.exists():
        # Written whole to a private temporary file, then linked into place: the service and
        # its workers starting together keep one key, and none reads a half-written file.
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{DEV_KEY_NAME}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
            os.link(temporary, target)
            log.warning("no NOTIFICATIONS_SECRETS_KEY_FILE configured; created a development key for webhook "
                        "secrets in %s", target)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return SecretBox(read_keys(target))


def box_from_config(config: dict) -> SecretBox:
    return load_secret_box(config.get("SECRETS_KEY_FILE") or None)
