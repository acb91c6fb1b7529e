"""Instance keys: each instance signs what it produces (wire events, log checkpoints) with
its own Ed25519 key; anyone holding the public keys can check, without any secret.

Keys come from configuration, never from code or the repository:
  SIGNING_KEY_FILE   the instance's private key (PEM, PKCS#8), readable by it alone;
  TRUSTED_KEYS_DIR   a folder of ``<instance>.pub`` files (PEM), one per trusted instance.
Under `make run` and the tests, an instance without a configured key creates one in
``var/keys/`` on first start and publishes its public half beside it (a development
convenience; production mounts both from secrets, see deploy/README.md).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.persistence import VAR_DIR

log = logging.getLogger(__name__)
INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


def default_keys_dir() -> Path:
    return Path(os.environ.get("TRUSTED_KEYS_DIR") or VAR_DIR / "keys")


class Signer:
    """One instance's private key."""

    def __init__(self, instance: str, private_key: Ed25519PrivateKey):
        self.instance = instance
        self._key = private_key

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode()

    def public_pem(self) -> str:
        return public_pem(self._key.public_key())


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_signer(instance: str, key_file: str | os.PathLike | None = None,
                keys_dir: str | os.PathLike | None = None) -> Signer:
    """The instance's key from ``key_file``; if none is configured, the development key in
    ``keys_dir`` (created once, its public half published there for the others)."""
    if not INSTANCE_NAME.match(instance):
        raise ValueError(f"instance name {instance!r} is not usable as a key name")
    if key_file:
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{key_file}: not an Ed25519 private key")
        return Signer(instance, key)
    folder = Path(keys_dir) if keys_dir else default_keys_dir()
    folder.mkdir(parents=True, exist_ok=True)
    private_file = folder / f"{instance}.key"
    if not private_file.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # Written whole to a private temporary file, then linked into place: two copies of one
        # instance starting together keep one key, and neither reads a half-written file.
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{instance}.", suffix=".key")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            os.link(temporary, private_file)
            log.warning("instance %s had no SIGNING_KEY_FILE; created a development key in %s", instance, folder)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    signer = load_signer(instance, private_file)
    public_file = folder / f"{instance}.pub"
    if not public_file.exists() or public_file.read_text() != signer.public_pem():
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{instance}.", suffix=".pub")
        with os.fdopen(fd, "w") as out:
            out.write(signer.public_pem())
        os.replace(temporary, public_file)  # readers see the old file or the whole new one
    return signer


class TrustedKeys:
    """Public keys of the instances whose signatures we accept, read from a folder.

    A key added to the folder later (a new department) is picked up on first use.
    """

    def __init__(self, keys_dir: str | os.PathLike | None = None, keys: dict[str, str] | None = None):
        self.folder = Path(keys_dir) if keys_dir else default_keys_dir()
        self._keys: dict[str, Ed25519PublicKey] = {}
        for instance, pem in (keys or {}).items():
            self._keys[instance] = _public_key(pem.encode())

    def key_of(self, instance: str) -> Ed25519PublicKey | None:
        if instance not in self._keys and INSTANCE_NAME.match(instance):
            path = self.folder / f"{instance}.pub"
            if path.is_file():
                self._keys[instance] = _public_key(path.read_bytes())
        return self._keys.get(instance)

    def known(self, instance: str) -> bool:
        return self.key_of(instance) is not None

    def verify(self, instance: str, message: bytes, signature: str) -> bool:
        """True only if ``instance`` is known and signed exactly ``message``."""
        key = self.key_of(instance)
        if key is None:
            return False
        try:
            key.verify(base64.b64decode(signature, validate=True), message)
            return True
        except (InvalidSignature, ValueError):
            return False

    def pems(self) -> dict[str, str]:
        """Every key in the folder, e.g. to put beside an export."""
        for path in sorted(self.folder.glob("*.pub")):
            self.key_of(path.stem)
        return {instance: public_pem(key) for instance, key in sorted(self._keys.items())}


def _public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signer_from_config(config: dict, instance: str) -> Signer:
    """The instance's signer from a service's nameko config (SIGNING_KEY_FILE, TRUSTED_KEYS_DIR)."""
    return load_signer(instance, config.get("SIGNING_KEY_FILE") or None, config.get("TRUSTED_KEYS_DIR") or None)


def trusted_from_config(config: dict) -> TrustedKeys:
    return TrustedKeys(config.get("TRUSTED_KEYS_DIR") or None)
