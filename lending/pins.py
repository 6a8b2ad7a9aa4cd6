"""PINs: the rules a new PIN must meet, its stored verifier, and checking a PIN against it.

A 4-digit PIN has 10,000 values, so no work factor protects it once its verifier (and any
pepper) is known: argon2id at 22 ms buys about four minutes per PIN. Payment systems
verify PINs with a keyed function whose key never sits beside the data (ISO 9564, the PVV
in an HSM); so do we. The verifier is

    hmac-sha256$<key_id>$<salt_b64>$<mac_b64>,  mac = HMAC-SHA-256(key[key_id], salt || pin)

with a random salt per verifier (equal PINs look different) and the key from settings
(PIN_KEY / PIN_KEY_ID, retired keys in PIN_KEYS, or PIN_KEY_FILE), never from the
database. A dump of `members` therefore lets nobody test a single PIN offline; the online
guesses are bounded by the lockout in `lending.members`.

Verifiers made before the key existed (argon2id over HMAC-SHA256(PIN_PEPPER, pin)) still
verify, and `needs_upgrade` says so, as it does for a verifier under a retired key: the
caller stores `hash_pin(pin)` after the next right PIN.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core import runtime
from lending.errors import LendingError

logger = logging.getLogger(__name__)

SCHEME = "hmac-sha256"
SALT_BYTES = 16
LEGACY_PREFIX = "$argon2"
# Verifies the argon2id verifiers of before PIN_KEY, whatever parameters they were made with.
_LEGACY_HASHER = PasswordHasher()


@dataclass(frozen=True, slots=True)
class PinKeys:
    """The current key (new verifiers) and every key a stored verifier may name."""

    current_id: str
    keys: dict[str, bytes]

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]


def check_pin_rules(pin: str) -> None:
    """Refuse PINs that are not 4 digits, all one digit, or a 1234-style run."""
    if not (isinstance(pin, str) and len(pin) == 4 and pin.isascii() and pin.isdigit()):
        raise LendingError("invalid_pin", "a PIN is 4 digits", field="pin")
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    if steps == {0}:
        raise LendingError("weak_pin", "a PIN cannot repeat one digit", field="pin")
    if steps in ({1}, {-1}):
        raise LendingError("weak_pin", "a PIN cannot be a sequence like 1234", field="pin")


def hash_pin(pin: str) -> str:
    """The stored verifier of a PIN, under the current key and a fresh salt."""
    keys = pin_keys()
    salt = secrets.token_bytes(SALT_BYTES)
    mac = _mac(keys.current, salt, pin)
    return f"{SCHEME}${keys.current_id}${_b64(salt)}${_b64(mac)}"


def pin_matches(stored: str, pin: str) -> bool:
    """Whether `pin` is the PIN behind `stored`; never raises on a malformed verifier."""
    if not isinstance(pin, str):
        return False
    if stored.startswith(LEGACY_PREFIX):
        return _legacy_matches(stored, pin)
    parts = _parts(stored)
    if parts is None:
        return False
    key_id, salt, mac = parts
    key = pin_keys().keys.get(key_id)
    if key is None:
        logger.error("a PIN verifier names key id %r, which PIN_KEY/PIN_KEYS do not hold",
                     key_id)
        return False
    return hmac.compare_digest(_mac(key, salt, pin), mac)


def needs_upgrade(stored: str) -> bool:
    """An argon2id verifier, or one under a retired key: store `hash_pin` on the next right PIN."""
    parts = _parts(stored)
    return parts is None or parts[0] != pin_keys().current_id


def key_id_of(stored: str) -> str | None:
    """The key id a verifier was made under (None for argon2id or malformed ones)."""
    parts = _parts(stored)
    return parts[0] if parts else None


def pin_keys() -> PinKeys:
    """The keys of this process's settings."""
    s = runtime.current().settings
    return _keys(s.pin_key_id, s.pin_key, s.pin_keys)


@functools.lru_cache(maxsize=8)
def _keys(current_id: str, current: str, retired: tuple[str, ...]) -> PinKeys:
    keys = {key_id: secret.encode() for key_id, _, secret in
            (entry.partition(":") for entry in retired)}
    if not current:
        raise RuntimeError("PIN_KEY is not set")  # settings fill it outside production
    keys[current_id] = current.encode()
    return PinKeys(current_id, keys)


def _mac(key: bytes, salt: bytes, pin: str) -> bytes:
    return hmac.new(key, salt + pin.encode(), hashlib.sha256).digest()


def _parts(stored: str) -> tuple[str, bytes, bytes] | None:
    scheme, _, rest = stored.partition("$")
    key_id, _, rest = rest.partition("$")
    salt, _, mac = rest.partition("$")
    if scheme != SCHEME or not key_id or not salt or not mac:
        return None
    try:
        return key_id, _unb64(salt), _unb64(mac)
    except ValueError:
        return None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _legacy_matches(stored: str, pin: str) -> bool:
    pepper = runtime.current().settings.pin_pepper
    if not pepper:
        logger.error("an argon2id PIN verifier needs PIN_PEPPER, which is not set")
        return False
    peppered = hmac.new(pepper.encode(), pin.encode(), hashlib.sha256).hexdigest()
    try:
        return _LEGACY_HASHER.verify(stored, peppered)
    except (VerificationError, InvalidHashError):
        return False
