"""Instance keys: each instance signs what it produces (wire events, log checkpoints) with
its own Ed25519 key; anyone holding the public keys can check, without any secret.

Keys come from configuration, never from code or the repository:
  SIGNING_KEY_FILE   the instance's private key (PEM, PKCS#8), readable by it alone;
  TRUSTED_KEYS_DIR   a folder of ``<instance>.pub`` files (PEM), one per trusted instance,
                     and the keys it used before: ``<instance>.retired-<UTC time>.pub``.

Keys have ids (``key_id``: the start of the SHA-256 of the raw public key) and rotate
(``rotate_key``): a retired key still vouches for what was signed at or before its
retirement time, so old checkpoints and events keep verifying; after it, only the
current key does. A signer re-reads its key file when it changes.

Under `make run` and the tests, an instance without a configured key creates one in
``var/keys/`` on first start and publishes its public half beside it (a development
convenience; production mounts both from secrets, see deploy/README.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.persistence import VAR_DIR
from shared.trust import Claims, claims_for

log = logging.getLogger(__name__)
INSTANCE_NAME = re.compile(r"^(?!.*\.retired-)[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
# ``.retired-`` and not ``@retired-``: a Kubernetes ConfigMap (the trusted folder there) takes
# only [-._a-zA-Z0-9] in its file names, so instance names may not contain the marker.
RETIRED = ".retired-"
RETIRED_AT = "%Y%m%dT%H%M%SZ"
RECHECK_S = 2.0


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: what a signature says it was made with."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def retired_name(instance: str, retired_at: dt.datetime) -> str:
    return f"{instance}{RETIRED}{retired_at.astimezone(dt.timezone.utc).strftime(RETIRED_AT)}"


def parse_key_name(name: str) -> tuple[str, dt.datetime | None] | None:
    """``instance`` or ``instance.retired-<time>`` (a file's stem) as (instance, retired at)."""
    instance, marker, when = name.partition(RETIRED)
    if not INSTANCE_NAME.match(instance):
        return None
    if not marker:
        return instance, None
    try:
        return instance, dt.datetime.strptime(when, RETIRED_AT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def signing_time(value) -> dt.datetime | None:
    """A signed message's own time (ISO text or datetime; naive means UTC), None if it has none."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def default_keys_dir() -> Path:
    return Path(os.environ.get("TRUSTED_KEYS_DIR") or VAR_DIR / "keys")


class SigningKey:
    """One private key of an instance, with its id."""

    def __init__(self, instance: str, private_key: Ed25519PrivateKey):
        self.instance = instance
        self._key = private_key
        self.key_id = key_id(private_key.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode()

    def public_pem(self) -> str:
        return public_pem(self._key.public_key())


class Signer:
    """One instance's private key. Given its file, it re-reads it when it changes (at most
    every ``recheck_s``): after ``rotate_key`` a running process signs with the new key
    without a restart, where its mount lets it see the new file."""

    def __init__(self, instance: str, private_key: Ed25519PrivateKey, key_file: str | os.PathLike | None = None,
                 recheck_s: float = RECHECK_S):
        self.instance = instance
        self._current = SigningKey(instance, private_key)
        self._file = Path(key_file) if key_file else None
        self._recheck_s = recheck_s
        self._checked = time.monotonic()
        self._stamp = _stamp(self._file) if self._file else None

    def current(self) -> SigningKey:
        """The key to sign with now. Use one ``current()`` for a key id and its signature."""
        if self._file is not None and time.monotonic() - self._checked >= self._recheck_s:
            self._checked = time.monotonic()
            stamp = _stamp(self._file)
            if stamp is not None and stamp != self._stamp:
                try:
                    fresh = SigningKey(self.instance, _private_key(self._file))
                except (OSError, ValueError) as error:
                    log.error("instance %s: its key file %s changed but is unusable (%s); still signing with key %s",
                              self.instance, self._file, error, self._current.key_id)
                else:
                    if fresh.key_id != self._current.key_id:
                        log.warning("instance %s: key file changed, signing with key %s instead of %s",
                                    self.instance, fresh.key_id, self._current.key_id)
                    self._current = fresh
                self._stamp = stamp
        return self._current

    @property
    def key_id(self) -> str:
        return self.current().key_id

    def sign(self, message: bytes) -> str:
        return self.current().sign(message)

    def public_pem(self) -> str:
        return self.current().public_pem()


def _stamp(path: Path) -> tuple[int, int, float] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime


def _private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_signer(instance: str, key_file: str | os.PathLike | None = None,
                keys_dir: str | os.PathLike | None = None) -> Signer:
    """The instance's key from ``key_file``; if none is configured, the development key in
    ``keys_dir`` (created once, its public half published there for the others)."""
    if not INSTANCE_NAME.match(instance):
        raise ValueError(f"instance name {instance!r} is not usable as a key name")
    if key_file:
        return Signer(instance, _private_key(Path(key_file)), key_file)
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


ROTATION_GRACE_S = 10.0  # > a signer's recheck (2 s): what it signs before it sees the new key still counts


def rotate_key(instance: str, keys_dir: str | os.PathLike | None = None,
               private_dir: str | os.PathLike | None = None, grace_s: float = ROTATION_GRACE_S,
               now: dt.datetime | None = None) -> dict[str, str]:
    """Give ``instance`` a new key; its old public key stays trusted, retired, for what was
    signed up to ``grace_s`` from now, so its checkpoints and events keep verifying.

    ``keys_dir`` holds ``<instance>.pub`` (the trusted folder), ``private_dir`` (default: the
    same, as in development) ``<instance>.key``. The old private key is overwritten: nothing
    signs with it again. The claims file is kept. Running verifiers see the new key within
    their recheck, a running signer re-reads its key file likewise (restart it where its
    mount cannot change under it, deploy/README.md). Each step is one rename: a process never
    reads a half-written file, and the old key is in the folder throughout.
    """
    if not INSTANCE_NAME.match(instance):
        raise ValueError(f"instance name {instance!r} is not usable as a key name")
    folder = Path(keys_dir) if keys_dir else default_keys_dir()
    private_file = (Path(private_dir) if private_dir else folder) / f"{instance}.key"
    old = SigningKey(instance, _private_key(private_file))  # FileNotFoundError: nothing to rotate
    moment = (now or dt.datetime.now(dt.timezone.utc)).timestamp() + grace_s
    retired_at = dt.datetime.fromtimestamp(math.ceil(moment), dt.timezone.utc)  # never before the moment
    retired_file = folder / f"{retired_name(instance, retired_at)}.pub"
    _write_new(retired_file, old.public_pem().encode(), 0o644)
    new = Ed25519PrivateKey.generate()
    _write(folder / f"{instance}.pub", public_pem(new.public_key()).encode(), 0o644)
    _write(private_file, new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()), 0o600)
    log.warning("instance %s: key %s retired (it vouches for what was signed until %s), new key %s",
                instance, old.key_id, retired_at.isoformat(), key_id(new.public_key()))
    return {"instance": instance, "old_key_id": old.key_id, "new_key_id": key_id(new.public_key()),
            "retired_at": retired_at.isoformat(), "retired_file": str(retired_file)}


def _temporary(path: Path, content: bytes, mode: int) -> str:
    # not ending in .pub: a half-made file is never among the folder's keys
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.chmod(temporary, mode)
    return temporary


def _write(path: Path, content: bytes, mode: int) -> None:
    os.replace(_temporary(path, content, mode), path)  # readers see the old file or the whole new one


def _write_new(path: Path, content: bytes, mode: int) -> None:
    temporary = _temporary(path, content, mode)
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise FileExistsError(f"{path} exists: this key was rotated a moment ago") from None
    finally:
        os.unlink(temporary)


@dataclass(frozen=True)
class TrustedKey:
    """One public key of an instance: its current one, or one it retired."""

    instance: str
    key_id: str
    key: Ed25519PublicKey
    retired_at: dt.datetime | None = None  # None: the current key

    @property
    def name(self) -> str:
        return self.instance if self.retired_at is None else retired_name(self.instance, self.retired_at)

    def in_force_at(self, signed_at: dt.datetime | None) -> bool:
        """A retired key vouches only for what was signed at or before its retirement."""
        if self.retired_at is None:
            return True
        return signed_at is not None and signed_at <= self.retired_at


class TrustedKeys:
    """Public keys of the instances whose signatures we accept, and what each speaks for
    (shared.trust), read from a folder: ``<instance>.pub`` (its current key),
    ``<instance>.retired-<time>.pub`` (keys it used before) and ``<instance>.trust.yaml``.

    The folder is the truth, looked at again at most every ``recheck_s`` seconds: a key added
    later (a new department) is picked up on first use, and a key or claims file removed stops
    being trusted without restarting anything. An instance without a current key is not
    trusted at all, its retired keys included. A signature naming a key id not seen yet makes
    the folder be looked at again at once (a rotation just made).
    """

    def __init__(self, keys_dir: str | os.PathLike | None = None, keys: dict[str, str] | None = None,
                 recheck_s: float = RECHECK_S, claims: dict[str, dict] | None = None):
        """``keys`` (instance, or retired key name -> PEM) and ``claims`` (instance ->
        shared.trust.Claims fields) are given beside the folder's, e.g. the keys an auditor brings."""
        self.folder = Path(keys_dir) if keys_dir else default_keys_dir()
        self.recheck_s = recheck_s
        self._given: dict[str, list[TrustedKey]] = {}
        for name, pem in (keys or {}).items():
            parsed = parse_key_name(name)
            if parsed is None:
                raise ValueError(f"{name!r} is not an instance's key name")
            public = _public_key(pem.encode())
            self._given.setdefault(parsed[0], []).append(TrustedKey(parsed[0], key_id(public), public, parsed[1]))
        self._given_claims = {instance: Claims.model_validate(c) for instance, c in (claims or {}).items()}
        self._files: dict[Path, tuple[float, object, object]] = {}  # path -> (checked, stamp, value)
        self._listings: dict[str, tuple[float, list[Path]]] = {}  # instance -> (checked, retired key files)

    def _read(self, path: Path, parse, fresh: bool = False):
        """``parse(bytes)`` of the file as it is now (None if absent), re-read when it changed."""
        now = time.monotonic()
        checked, stamp, value = self._files.get(path, (None, None, None))
        if checked is not None and now - checked < self.recheck_s and not fresh:
            return value
        current = _stamp(path)
        if current is None:
            value = None
        elif current != stamp:
            value = parse(path.read_bytes())
        self._files[path] = (now, current, value)
        return value

    def _retired_files(self, instance: str, fresh: bool) -> list[Path]:
        now = time.monotonic()
        checked, files = self._listings.get(instance, (None, []))
        if checked is None or fresh or now - checked >= self.recheck_s:
            files = sorted(self.folder.glob(f"{instance}{RETIRED}*.pub"))
            self._listings[instance] = (now, files)
        return files

    def keys_of(self, instance: str, fresh: bool = False) -> list[TrustedKey]:
        """Its current key first, then the ones it retired, newest first; [] if it has no
        current key. ``fresh``: look at the folder now, whatever was seen recently."""
        if instance in self._given:
            found = self._given[instance]
        elif not INSTANCE_NAME.match(instance):
            return []
        else:
            current = self._read(self.folder / f"{instance}.pub", _public_key, fresh)
            found = [TrustedKey(instance, key_id(current), current)] if current is not None else []
            for path in self._retired_files(instance, fresh):
                parsed = parse_key_name(path.stem)
                retired = self._read(path, _retired_key, fresh) if parsed and parsed[0] == instance else None
                if retired is not None:
                    found.append(TrustedKey(instance, key_id(retired), retired, parsed[1]))
        if not any(k.retired_at is None for k in found):
            return []
        return sorted(found, key=lambda k: (k.retired_at is not None, -(k.retired_at or _EPOCH).timestamp()))

    def key_of(self, instance: str) -> Ed25519PublicKey | None:
        """Its current key."""
        keys = self.keys_of(instance)
        return keys[0].key if keys else None

    def claims_of(self, instance: str) -> Claims | None:
        """What ``instance`` speaks for, from its claims file (None: it speaks for nothing)."""
        if instance in self._given_claims:
            return self._given_claims[instance]
        if not INSTANCE_NAME.match(instance):
            return None
        return self._read(self.folder / f"{instance}{CLAIMS_SUFFIX}", _claims)

    def known(self, instance: str) -> bool:
        return bool(self.keys_of(instance))

    def refusal(self, instance: str, message: bytes, signature: str, key_id: str | None = None,
                signed_at: str | dt.datetime | None = None) -> str | None:
        """Why ``signature`` does not show that ``instance`` signed exactly ``message`` with a
        key in force at ``signed_at`` (the message's own, signed, time), or None if it does.

        ``key_id`` names the key used; without one (signed before keys had ids), any of the
        instance's keys in force then will do. English, for logs and parking reasons.
        """
        keys = self.keys_of(instance)
        if not keys:
            return f"unknown instance {instance!r}: no trusted public key"
        try:
            raw = base64.b64decode(signature, validate=True)
        except (ValueError, TypeError):
            return f"bad signature: not base64 (instance {instance!r})"
        when = signing_time(signed_at)
        if key_id is None:
            candidates = [k for k in keys if k.in_force_at(when)]  # the current key at least
        else:
            named = [k for k in keys if k.key_id == key_id]
            if not named:
                keys = self.keys_of(instance, fresh=True)  # rotated since we last looked?
                named = [k for k in keys if k.key_id == key_id]
            if not named:
                return (f"bad signature: signed with key {str(key_id)[:40]!r}, which is not a key of instance "
                        f"{instance!r} (its keys: {', '.join(k.key_id for k in keys)})")
            candidates = [k for k in named if k.in_force_at(when)]
            if not candidates:
                retired = named[0].retired_at.isoformat()
                said = f"at {when.isoformat()}" if when else "at no stated time"
                return (f"bad signature: key {key_id} of instance {instance!r} was retired at {retired} and this "
                        f"says it was signed {said}: a retired key vouches only for what was signed before")
        for key in candidates:
            try:
                key.key.verify(raw, message)
                return None
            except InvalidSignature:
                continue
        which = f"key {key_id}" if key_id is not None else "any key"
        return f"bad signature: not signed by {which} of instance {instance!r} in force then, or changed since"

    def verify(self, instance: str, message: bytes, signature: str, key_id: str | None = None,
               signed_at: str | dt.datetime | None = None) -> bool:
        """True only if ``instance`` is known and signed exactly ``message`` (see ``refusal``)."""
        return self.refusal(instance, message, signature, key_id, signed_at) is None

    def pems(self) -> dict[str, str]:
        """Every key in the folder (and any given), by file name without ``.pub``, retired ones
        included (an export's checkpoints may be signed by them)."""
        instances = {parsed[0] for path in self.folder.glob("*.pub") if (parsed := parse_key_name(path.stem))}
        found = {}
        for instance in sorted(instances | set(self._given)):
            found |= {k.name: public_pem(k.key) for k in self.keys_of(instance)}
        return dict(sorted(found.items()))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _retired_key(pem: bytes) -> Ed25519PublicKey | None:
    """An unreadable retired key only loses what it alone vouched for; its instance stays trusted."""
    try:
        return _public_key(pem)
    except ValueError as error:
        log.warning("an unreadable retired key file is ignored: %s", error)
        return None


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
