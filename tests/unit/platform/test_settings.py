import pytest

from core.settings import ConfigurationError, Settings, normalize_database_url


def test_production_refuses_to_start_and_names_what_is_missing() -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        Settings.from_env({"MKOPO_ENV": "production", "SECRET_KEY": "s"})
    message = str(excinfo.value)
    for name in ("CALLBACK_TOKEN", "DATABASE_URL", "REDIS_URL", "PIN_KEY"):
        assert name in message
    assert "SECRET_KEY" not in message


PRODUCTION = {"MKOPO_ENV": "production", "SECRET_KEY": "s" * 32, "CALLBACK_TOKEN": "t" * 32,
              "PIN_PEPPER": "p" * 32, "PIN_KEY": "k" * 32, "REDIS_URL": "redis://x",
              "DATABASE_URL": "postgresql://u@h/db", "SMS_PROVIDER": "africastalking",
              "MOBILE_MONEY_PROVIDER": "daraja"}


def test_a_complete_production_configuration_starts() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.is_production and settings.secret_key == "s" * 32


def test_production_needs_postgresql() -> None:
    env = {**PRODUCTION, "DATABASE_URL": "sqlite:///x.db"}
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        Settings.from_env(env)
    env["DATABASE_URL"] = "postgres://u@h/db"
    assert Settings.from_env(env).sqlalchemy_url == "postgresql+psycopg://u@h/db"


def test_development_invents_its_own_secrets() -> None:
    settings = Settings.from_env({})
    assert settings.env == "development"
    assert len(settings.secret_key) > 20 and settings.callback_token
    assert settings.sqlalchemy_url.startswith("sqlite:///")


def test_every_contract_variable_is_read() -> None:
    env = {"USSD_SERVICE_CODE": "*1#", "SMS_PROVIDER": "africastalking", "AT_USERNAME": "sandbox",
           "MOBILE_MONEY_PROVIDER": "daraja", "MPESA_ENV": "production", "CURRENCY": "KES",
           "DEFAULT_REGION": "KE", "TIMEZONE": "Africa/Nairobi", "PUBLIC_BASE_URL": "https://m.x",
           "MPESA_SHORTCODE": "174379", "PAYOUT_APPROVAL_THRESHOLD": "100"}
    s = Settings.from_env(env)
    assert (s.ussd_service_code, s.sms_provider, s.at_username, s.mobile_money_provider,
            s.mpesa_env, s.public_base_url, s.mpesa_shortcode, s.payout_approval_threshold) == (
        "*1#", "africastalking", "sandbox", "daraja", "production", "https://m.x", "174379", 100)


def test_bad_values_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env({"MKOPO_ENV": "staging"})
    with pytest.raises(ConfigurationError):
        Settings.from_env({"PAYOUT_APPROVAL_THRESHOLD": "lots"})


def test_database_url_normalisation() -> None:
    assert normalize_database_url("postgresql://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalize_database_url("sqlite:///x") == "sqlite:///x"


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://root@db/mkopo", "DATABASE_URL uses 'mysql', which Mkopo does not support"),
    ("mongodb://db/mkopo", "DATABASE_URL uses 'mongodb'"),
    ("not a url", "DATABASE_URL is not a database URL"),
])
def test_a_database_url_mkopo_cannot_use_is_refused_in_one_line(url, message) -> None:
    with pytest.raises(ConfigurationError, match=message) as excinfo:
        Settings.from_env({"DATABASE_URL": url})
    assert "\n" not in str(excinfo.value) and "postgresql://" in str(excinfo.value)


@pytest.mark.parametrize("name", ["SECRET_KEY", "CALLBACK_TOKEN", "PIN_KEY", "PIN_PEPPER",
                                  "METRICS_TOKEN", "AT_CALLBACK_TOKEN"])
def test_production_refuses_a_secret_shorter_than_32_bytes_and_names_it(name) -> None:
    with pytest.raises(ConfigurationError, match="at least 32 bytes") as excinfo:
        Settings.from_env({**PRODUCTION, name: "x" * 31})
    assert name in str(excinfo.value)
    assert "x" * 31 not in str(excinfo.value)  # the secret itself is never echoed


def test_32_bytes_is_enough_even_in_few_characters() -> None:
    assert Settings.from_env({**PRODUCTION, "SECRET_KEY": "ü" * 16}).secret_key == "ü" * 16


@pytest.mark.parametrize("name", ["SMS_PROVIDER", "MOBILE_MONEY_PROVIDER"])
def test_production_refuses_the_simulator_providers(name) -> None:
    with pytest.raises(ConfigurationError, match=f"refuses the simulator: set {name}"):
        Settings.from_env({**PRODUCTION, name: "simulator"})


def test_production_refuses_the_default_providers_too() -> None:
    env = {k: v for k, v in PRODUCTION.items() if not k.endswith("PROVIDER")}
    with pytest.raises(ConfigurationError, match="SMS_PROVIDER and MOBILE_MONEY_PROVIDER"):
        Settings.from_env(env)


def test_development_keeps_short_secrets_and_the_simulators() -> None:
    settings = Settings.from_env({"SECRET_KEY": "short", "SMS_PROVIDER": "simulator"})
    assert settings.secret_key == "short" and settings.sms_provider == "simulator"


def test_production_needs_a_pin_key_of_32_bytes() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "PIN_KEY"}
    with pytest.raises(ConfigurationError, match="production needs PIN_KEY"):
        Settings.from_env(env)
    with pytest.raises(ConfigurationError, match="at least 32 bytes: PIN_KEY is shorter"):
        Settings.from_env({**env, "PIN_KEY": "k" * 31})


def test_production_no_longer_needs_the_pin_pepper_of_argon2id_verifiers() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "PIN_PEPPER"}
    assert Settings.from_env(env).pin_pepper == ""


def test_the_pin_key_can_come_from_a_file(tmp_path) -> None:
    secret = tmp_path / "pin_key"
    secret.write_text("f" * 40 + "\n")
    env = {k: v for k, v in PRODUCTION.items() if k != "PIN_KEY"}
    assert Settings.from_env({**env, "PIN_KEY_FILE": str(secret)}).pin_key == "f" * 40
    with pytest.raises(ConfigurationError, match="PIN_KEY_FILE cannot be read"):
        Settings.from_env({**env, "PIN_KEY_FILE": str(tmp_path / "missing")})
    secret.write_text("short")
    with pytest.raises(ConfigurationError, match="PIN_KEY is shorter"):
        Settings.from_env({**env, "PIN_KEY_FILE": str(secret)})


def test_retired_pin_keys_are_read_as_id_and_secret_and_checked() -> None:
    env = {**PRODUCTION, "PIN_KEY_ID": "2026b", "PIN_KEYS": "2026a:" + "a" * 32}
    settings = Settings.from_env(env)
    assert (settings.pin_key_id, settings.pin_keys) == ("2026b", ("2026a:" + "a" * 32,))
    with pytest.raises(ConfigurationError, match=r"PIN_KEYS \(2026a\)") as short:
        Settings.from_env({**env, "PIN_KEYS": "2026a:short"})
    assert "short" not in str(short.value).replace("shorter", "")
    for bad in ("no-secret", "bad id:" + "a" * 32, "2026b:" + "a" * 32):
        with pytest.raises(ConfigurationError, match="PIN_KEY"):
            Settings.from_env({**env, "PIN_KEYS": bad})


def test_development_has_a_fixed_pin_key_so_verifiers_survive_a_restart() -> None:
    assert Settings.from_env({}).pin_key == Settings.from_env({}).pin_key != ""
