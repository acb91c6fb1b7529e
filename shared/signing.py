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
import time
from pathlib import Path

import yaml
from pydantic import ValidationError

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.persistence import VAR_DIR
from shared.trust import Claims, claims_for

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
    """Public keys of the instances whose signatures we accept, and what each speaks for
    (shared.trust), read from a folder: ``<instance>.pub`` and ``<instance>.trust.yaml``.

    The folder is the truth, looked at again at most every ``recheck_s`` seconds: a key added
    later (a new department) is picked up on first use, and a key or claims file removed stops
    being trusted without restarting anything.
    """

    def __init__(self, keys_dir: str | os.PathLike | None = None, keys: dict[str, str] | None = None,
                 recheck_s: float = 2.0, claims: dict[str, dict] | None = None):
        """``keys`` (instance -> PEM) and ``claims`` (instance -> shared.trust.Claims fields) are
        given beside the folder's, e.g. the keys an auditor brings."""
        self.folder = Path(keys_dir) if keys_dir else default_keys_dir()
        self.recheck_s = recheck_s
        self._given = {instance: _public_key(pem.encode()) for instance, pem in (keys or {}).items()}
        self._given_claims = {instance: Claims.model_validate(c) for instance, c in (claims or {}).items()}
        self._files: dict[Path, tuple[float, float | None, object]] = {}  # path -> (checked, mtime, value)

    def _read(self, path: Path, parse):
        """``parse(bytes)`` of the file as it is now (None if absent), re-read when it changed."""
        now = time.monotonic()
        checked, mtime, value = self._files.get(path, (None, None, None))
        if checked is not None and now - checked < self.recheck_s:
            return value
        try:
            current = path.stat().st_mtime
        except OSError:
            current = None
        if current is None:
            value = None
        elif current != mtime:
            value = parse(path.read_bytes())
        self._files[path] = (now, current, value)
        return value

    def key_of(self, instance: str) -> Ed25519PublicKey | None:
        if instance in self._given:
            return self._given[instance]
        if not INSTANCE_NAME.match(instance):
            return None
        return self._read(self.folder / f"{instance}.pub", _public_key)

    def claims_of(self, instance: str) -> Claims | None:
        """What ``instance`` speaks for, from its claims file (None: it speaks for nothing)."""
        if instance in self._given_claims:
            return self._given_claims[instance]
        if not INSTANCE_NAME.match(instance):
            return None
        return self._read(self.folder / f"{instance}{CLAIMS_SUFFIX}", _claims)

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
        """Every key in the folder (and any given), e.g. to put beside an export."""
        found = {path.stem: self.key_of(path.stem) for path in sorted(self.folder.glob("*.pub"))}
        found |= self._given
        return {instance: public_pem(key) for instance, key in sorted(found.items()) if key is not None}


CLAIMS_SUFFIX = ".trust.yaml"


def _claims(raw: bytes) -> Claims:
    try:
        return Claims.model_validate(yaml.safe_load(raw.decode("utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError, ValidationError) as exc:
        raise ValueError(f"unreadable claims: {exc}") from None


def publish_claims(instance: str, keys_dir: str | os.PathLike | None = None, **claims) -> None:
    """Write what a development instance speaks for beside its public key (`make run`, tests).
    Production writes these files with deploy/make-keys.sh, where the instances cannot."""
    folder = Path(keys_dir) if keys_dir else default_keys_dir()
    text = yaml.safe_dump(claims_for(**claims), allow_unicode=True, sort_keys=True)
    path = folder / f"{instance}{CLAIMS_SUFFIX}"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{instance}.", suffix=CLAIMS_SUFFIX)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def _public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signer_from_config(config: dict, instance: str, **claims) -> Signer:
    """The instance's signer from a service's nameko config (SIGNING_KEY_FILE, TRUSTED_KEYS_DIR).
    ``claims`` (service, department or council: shared.trust) are published beside a development
    key; a configured key's claims are the deployment's to write (deploy/make-keys.sh)."""
    key_file, keys_dir = config.get("SIGNING_KEY_FILE") or None, config.get("TRUSTED_KEYS_DIR") or None
    signer = load_signer(instance, key_file, keys_dir)
    if key_file is None:
        publish_claims(instance, keys_dir, **claims)
    return signer


def trusted_from_config(config: dict) -> TrustedKeys:
    return TrustedKeys(config.get("TRUSTED_KEYS_DIR") or None)
