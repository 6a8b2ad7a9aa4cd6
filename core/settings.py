"""Typed settings, read once from the environment (CONTRACT.md, "Environment")."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENVIRONMENTS = ("development", "test", "production")


class ConfigurationError(RuntimeError):
    """The process cannot start with this configuration."""


def _default_instance_path() -> Path:
    return Path(os.environ.get("MKOPO_INSTANCE_PATH", Path.cwd() / "instance"))


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    secret_key: str = ""
    database_url: str = ""
    redis_url: str = ""
    instance_path: Path = field(default_factory=_default_instance_path)
    ussd_service_code: str = "*384*123#"
    sms_provider: str = "simulator"
    at_username: str = ""
    at_api_key: str = ""
    at_sender_id: str = ""
    mobile_money_provider: str = "simulator"
    mpesa_env: str = "sandbox"
    mpesa_consumer_key: str = ""
    mpesa_consumer_secret: str = ""
    mpesa_shortcode: str = ""
    mpesa_passkey: str = ""
    mpesa_b2c_shortcode: str = ""
    mpesa_initiator_name: str = ""
    mpesa_security_credential: str = ""
    mpesa_ip_allowlist: tuple[str, ...] = ()
    trusted_proxy_hops: int = 0
    at_callback_token: str = ""
    at_ip_allowlist: tuple[str, ...] = ()
    sms_reply_budget_per_hour: int = 1000
    metrics_token: str = ""
    public_base_url: str = "http://127.0.0.1:5000"
    callback_token: str = ""
    currency: str = "KES"
    default_region: str = "KE"
    timezone: str = "Africa/Nairobi"
    pin_pepper: str = ""  # argon2id PIN verifiers from before PIN_KEY (upgraded on use)
    pin_key: str = ""
    pin_key_id: str = "1"
    pin_keys: tuple[str, ...] = ()  # retired PIN keys, "id:secret" each
    pin_key_file: str = ""
    payout_approval_threshold: int = 5_000_000  # minor units: KES 50,000
    sim_swap_provider: str = "simulator"  # simulator, camara, or none (no check)
    sim_swap_api_url: str = ""
    sim_swap_api_token: str = ""
    sim_swap_hold_days: int = 7
    sim_swap_timeout: int = 5  # seconds
    support_phone: str = "0800 720 000"
    paybill_number: str = "600000"
    log_level: str = "INFO"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver this project ships (psycopg 3)."""
        return normalize_database_url(self.database_url) or (
            f"sqlite:///{self.instance_path / 'mkopo.sqlite3'}"
        )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Build settings from the environment, then apply explicit overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(_env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in (overrides or {}).items():
            name = _ENV_TO_FIELD.get(key, key.lower())
            if name in fields:  # Flask-style keys such as TESTING are not ours
                values[name] = _coerce(fields[name], value) if isinstance(value, str) else value
        settings = cls(**values)._with_pin_key_file()
        settings.check()
        return settings.with_development_secrets()

    def check(self) -> None:
        """Refuse a production start with a missing secret or server, naming it."""
        if self.env not in ENVIRONMENTS:
            raise ConfigurationError(f"MKOPO_ENV must be one of {', '.join(ENVIRONMENTS)}")
        check_database_url(self.database_url)
        self._check_pin_key_ids()
        if not self.is_production:
            return
        missing = [
            name
            for name, value in (
                ("SECRET_KEY", self.secret_key),
                ("CALLBACK_TOKEN", self.callback_token),
                ("DATABASE_URL", self.database_url),
                ("REDIS_URL", self.redis_url),
                ("PIN_KEY", self.pin_key),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(f"production needs {', '.join(missing)}")
        if not self.sqlalchemy_url.startswith("postgresql"):
            raise ConfigurationError("production needs a PostgreSQL DATABASE_URL")
        self._check_production_secrets()
        self._check_production_providers()

    def _check_pin_key_ids(self) -> None:
        """Key ids are written into every PIN verifier: short words, each naming one key."""
        ids = [self.pin_key_id] + [entry.partition(":")[0] for entry in self.pin_keys]
        if any(not PIN_KEY_ID_PATTERN.fullmatch(key_id) for key_id in ids):
            raise ConfigurationError(
                "PIN_KEY_ID and the ids of PIN_KEYS (written id:secret,id:secret) must be "
                "1-16 letters, digits, '-' or '_'")
        if len(set(ids)) != len(ids):
            raise ConfigurationError("PIN_KEYS repeats a key id (or reuses PIN_KEY_ID)")
        if any(not entry.partition(":")[2] for entry in self.pin_keys):
            raise ConfigurationError("PIN_KEYS needs a secret after each id (id:secret)")

    def _with_pin_key_file(self) -> Settings:
        """PIN_KEY_FILE (a mounted secret) holds the current PIN key; it wins over PIN_KEY."""
        if not self.pin_key_file:
            return self
        try:
            key = Path(self.pin_key_file).read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"PIN_KEY_FILE cannot be read ({exc.strerror or 'unreadable'}): "
                "point it at a file holding the PIN key") from None
        if not key:
            raise ConfigurationError("PIN_KEY_FILE is empty: it must hold the PIN key")
        return self.replace(pin_key=key)

    def _check_production_secrets(self) -> None:
        """Secrets a person could guess or a laptop could brute-force are refused, by name."""
        short = [name for name in PRODUCTION_SECRETS
                 if 0 < len(str(getattr(self, _field_of(name), "")).encode()) < MIN_SECRET_BYTES]
        short += [f"PIN_KEYS ({entry.partition(':')[0]})" for entry in self.pin_keys
                  if len(entry.partition(":")[2].encode()) < MIN_SECRET_BYTES]
        if short:
            raise ConfigurationError(
                f"production needs secrets of at least {MIN_SECRET_BYTES} bytes: "
                f"{', '.join(short)} {'is' if len(short) == 1 else 'are'} shorter "
                "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")

    def _check_production_providers(self) -> None:
        """The simulators move no real money and send no real SMS: never in production."""
        simulated = [name for name, value in (("SMS_PROVIDER", self.sms_provider),
                                              ("MOBILE_MONEY_PROVIDER",
                                               self.mobile_money_provider))
                     if value == "simulator"]
        if simulated:
            raise ConfigurationError(
                f"production refuses the simulator: set {' and '.join(simulated)} "
                "(africastalking, daraja)")

    def with_development_secrets(self) -> Settings:
        """Fill secrets a development or test process may invent for itself."""
        if self.is_production:
            return self
        return self.replace(
            secret_key=self.secret_key or secrets.token_urlsafe(32),
            callback_token=self.callback_token or secrets.token_urlsafe(24),
            pin_pepper=self.pin_pepper or "development-pepper",
            # fixed, not random: PIN verifiers outlive the process (dev server, worker, seeds)
            pin_key=self.pin_key or DEVELOPMENT_PIN_KEY,
        )


MIN_SECRET_BYTES = 32
PIN_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,16}")
DEVELOPMENT_PIN_KEY = "development-pin-key, never used in production"
PRODUCTION_SECRETS = ("SECRET_KEY", "CALLBACK_TOKEN", "PIN_KEY", "PIN_PEPPER", "METRICS_TOKEN",
                      "AT_CALLBACK_TOKEN")
"""Checked for length in production when set (the first three must be set; PIN_PEPPER only
while argon2id PIN verifiers from before PIN_KEY remain; the old keys of PIN_KEYS too)."""


def _field_of(env_name: str) -> str:
    return _ENV_TO_FIELD.get(env_name, env_name.lower())


DATABASE_URL_EXAMPLE = "postgresql://USER@HOST:5432/DATABASE"


def check_database_url(raw: str) -> None:
    """Refuse a DATABASE_URL that is not a URL of a database this project can use."""
    if not raw:
        return
    try:
        url = make_url(normalize_database_url(raw))
    except ArgumentError:
        raise ConfigurationError(
            f"DATABASE_URL is not a database URL: write it as {DATABASE_URL_EXAMPLE}") from None
    if url.get_backend_name() not in ("postgresql", "sqlite"):
        raise ConfigurationError(
            f"DATABASE_URL uses '{url.drivername}', which Mkopo does not support: use "
            f"{DATABASE_URL_EXAMPLE} (or leave it unset for an SQLite file in development)")


def normalize_database_url(url: str) -> str:
    """Map `postgres://` and plain `postgresql://` URLs to the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


_ENV_ALIASES = {"env": "MKOPO_ENV", "instance_path": "MKOPO_INSTANCE_PATH"}
_ENV_TO_FIELD = {v: k for k, v in _ENV_ALIASES.items()}


def _env_name(field_name: str) -> str:
    return _ENV_ALIASES.get(field_name, field_name.upper())


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    if kind == "int":
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{_env_name(f.name)} must be an integer") from exc
    if kind == "Path":
        return Path(raw)
    if kind.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
