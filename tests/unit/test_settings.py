"""Settings: defaults, parsing, one clear error per bad variable, masked URIs."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from hypothesis import assume, given
from hypothesis import strategies as st

from cryptoflow.exceptions import SettingsError
from cryptoflow.settings import Settings, mask_uri, read_env_file, topic_name


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.broker == "kafka://localhost:9092"
    assert settings.mongo_uri == "mongodb://localhost:27017"
    assert settings.mongo_db == "fx"
    assert settings.symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    assert settings.tick_symbols == settings.symbols
    assert settings.poll_interval == 3.0
    assert settings.binance_url == "https://api.binance.com"
    assert settings.web_port == 6066
    assert settings.topic_partitions == 4


def test_values_are_parsed_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CRYPTOFLOW_SYMBOLS": " btcusdt, ethbtc ",
            "CRYPTOFLOW_POLL_INTERVAL": "0",
            "CRYPTOFLOW_WEB_PORT": "8080",
            "CRYPTOFLOW_BINANCE_URL": "https://data-api.binance.vision/",
            "CRYPTOFLOW_MONGO_URI": "mongodb+srv://u:p@cluster.example.net/?tls=true",
        },
        env_file=None,
    )
    assert settings.symbols == ("BTCUSDT", "ETHBTC")
    assert settings.poll_interval == 0.0
    assert settings.web_port == 8080
    assert settings.binance_url == "https://data-api.binance.vision"
    assert settings.mongo_uri.startswith("mongodb+srv://")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CRYPTOFLOW_POLL_INTERVAL", "abc", "expected a number of seconds"),
        ("CRYPTOFLOW_POLL_INTERVAL", "-1", ">= 0"),
        ("CRYPTOFLOW_POLL_INTERVAL", "nan", "finite"),
        ("CRYPTOFLOW_WEB_PORT", "70000", "TCP port"),
        ("CRYPTOFLOW_WEB_PORT", "http", "whole number"),
        ("CRYPTOFLOW_TOPIC_PARTITIONS", "0", ">= 1"),
        ("CRYPTOFLOW_SYMBOLS", "BTC-USDT", "not a Binance symbol"),
        ("CRYPTOFLOW_SYMBOLS", "BTCUSDT,BTCUSDT", "twice"),
        ("CRYPTOFLOW_SYMBOLS", " , ", "got nothing"),
        ("CRYPTOFLOW_SYMBOLS", "BTCUSDT,BTC", "share the topic 'btc'"),
        ("CRYPTOFLOW_BROKER", "localhost:9092", "kafka://"),
        ("CRYPTOFLOW_MONGO_URI", "postgres://x", "mongodb://"),
        ("CRYPTOFLOW_BINANCE_URL", "ftp://x", "http://"),
        ("CRYPTOFLOW_MONGO_DB", "  ", "must not be empty"),
        ("CRYPTOFLOW_RETENTION_DAYS", "-1", "days >= 0"),
        ("CRYPTOFLOW_JUMP_THRESHOLD", "0", "fraction > 0"),
        ("CRYPTOFLOW_TOPIC_PREFIX", "my deployment", "not a topic name"),
        ("CRYPTOFLOW_TOPIC_PREFIX", "demo/2", "not a topic name"),
        ("CRYPTOFLOW_TOPIC_PREFIX", "x" * 239, "too long"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value}, env_file=None)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")
    assert message in str(caught.value)


def test_the_apps_topics_are_named_by_the_prefix_which_is_the_app_id_unless_set() -> None:
    def names(**environ: str) -> list[str]:
        settings = Settings.from_env(environ, env_file=None)
        return [settings.own_topic(kind) for kind in ("trades", "deadletter", "ticks")]

    assert names() == ["cryptoflow-trades", "cryptoflow-deadletter", "cryptoflow-ticks"]
    assert names(CRYPTOFLOW_APP_ID="demo.2_b") == [
        "demo.2_b-trades", "demo.2_b-deadletter", "demo.2_b-ticks"]
    assert names(CRYPTOFLOW_APP_ID="demo", CRYPTOFLOW_TOPIC_PREFIX=" shared ")[0] == (
        "shared-trades")
    longest = Settings.from_env({"CRYPTOFLOW_TOPIC_PREFIX": "x" * 238}, env_file=None)
    assert len(longest.own_topic("deadletter")) == 249  # Kafka's longest topic name


def test_an_app_id_that_cannot_prefix_a_topic_needs_a_prefix_of_its_own() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CRYPTOFLOW_APP_ID": "my app"}, env_file=None)
    assert caught.value.variable == "CRYPTOFLOW_APP_ID"
    assert "CRYPTOFLOW_TOPIC_PREFIX" in str(caught.value)
    settings = Settings.from_env(
        {"CRYPTOFLOW_APP_ID": "my app", "CRYPTOFLOW_TOPIC_PREFIX": "myapp"}, env_file=None)
    assert settings.own_topic("book") == "myapp-book"


def test_tick_symbols_are_some_of_the_symbols_in_their_order() -> None:
    settings = Settings.from_env({"CRYPTOFLOW_SYMBOLS": "ADAUSDT,BTCUSDT,ETHBTC,XRPUSDT",
                                  "CRYPTOFLOW_TICK_SYMBOLS": " ethbtc, btcusdt"}, env_file=None)
    assert settings.symbols == ("ADAUSDT", "BTCUSDT", "ETHBTC", "XRPUSDT")
    assert settings.tick_symbols == ("ETHBTC", "BTCUSDT")
    assert " tick_symbols=ETHBTC,BTCUSDT " in settings.describe()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CRYPTOFLOW_TICK_SYMBOLS": "BTCUSDT,ADAUSDT,XRPUSDT"},
         "not in CRYPTOFLOW_SYMBOLS: ADAUSDT, XRPUSDT"),
        ({"CRYPTOFLOW_TICK_SYMBOLS": "BTCUSDT,BTCUSDT"}, "twice"),
        ({"CRYPTOFLOW_TICK_SYMBOLS": "BTC/USDT"}, "not a Binance symbol"),
        # only symbols with a tick topic need a topic name of their own
        ({"CRYPTOFLOW_SYMBOLS": "BTCUSDT,BTC,ETHUSDT", "CRYPTOFLOW_TICK_SYMBOLS": "BTC,BTCUSDT"},
         "share the topic 'btc'"),
    ],
)
def test_bad_tick_symbols_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, env_file=None)
    assert caught.value.variable == "CRYPTOFLOW_TICK_SYMBOLS"
    assert message in str(caught.value)


def test_symbols_without_a_tick_topic_may_share_a_topic_name() -> None:
    settings = Settings.from_env({"CRYPTOFLOW_SYMBOLS": "BTCUSDT,BTC",
                                  "CRYPTOFLOW_TICK_SYMBOLS": "BTC"}, env_file=None)
    assert settings.tick_symbols == ("BTC",)


def test_a_bad_uri_is_reported_without_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CRYPTOFLOW_MONGO_URI": "mongo://admin:s3cret@db:27017"}, env_file=None)
    assert "s3cret" not in str(caught.value)
    assert "admin:***@db:27017" in str(caught.value)


def test_describe_masks_passwords() -> None:
    settings = Settings.from_env(
        {"CRYPTOFLOW_MONGO_URI": "mongodb://admin:s3cret@db:27017/?authSource=admin",
         "CRYPTOFLOW_BROKER": "kafka://user:hunter2@broker:9092"},
        env_file=None,
    )
    line = settings.describe()
    assert "s3cret" not in line
    assert "hunter2" not in line
    assert "mongo_uri=mongodb://admin:***@db:27017/?authSource=admin" in line


def test_describe_masks_passwords_in_uri_options() -> None:
    settings = Settings.from_env(
        {"CRYPTOFLOW_MONGO_URI": "mongodb://db/?tls=true&tlsCertificateKeyFilePassword=k3y"
                                 "&authMechanismProperties=AWS_SESSION_TOKEN:t0ken"},
        env_file=None,
    )
    line = settings.describe()
    assert "k3y" not in line
    assert "t0ken" not in line


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("mongodb://localhost:27017", "mongodb://localhost:27017"),
        ("mongodb://user@host", "mongodb://user@host"),
        ("mongodb://user:p%40ss@h1:1,h2:2/db", "mongodb://user:***@h1:1,h2:2/db"),
        ("mongodb+srv://u:pw@cluster.example.net", "mongodb+srv://u:***@cluster.example.net"),
        # the forms MongoDB's connection-string manual shows
        ("mongodb://myDatabaseUser:D1fficultP%40ssw0rd@mongodb0.example.com:27017/"
         "?authSource=admin",
         "mongodb://myDatabaseUser:***@mongodb0.example.com:27017/?authSource=admin"),
        ("mongodb://myDatabaseUser:D1fficultP%40ssw0rd@mongodb0.example.com:27017,"
         "mongodb1.example.com:27017,mongodb2.example.com:27017/?authSource=admin&replicaSet=r",
         "mongodb://myDatabaseUser:***@mongodb0.example.com:27017,mongodb1.example.com:27017,"
         "mongodb2.example.com:27017/?authSource=admin&replicaSet=r"),
        ("mongodb+srv://myDatabaseUser:D1fficultP%40ssw0rd@cluster0.example.mongodb.net/"
         "?retryWrites=true&w=majority",
         "mongodb+srv://myDatabaseUser:***@cluster0.example.mongodb.net/"
         "?retryWrites=true&w=majority"),
        ("mongodb://u:pw@[::1]:27017,[fe80::1]:27018/db",
         "mongodb://u:***@[::1]:27017,[fe80::1]:27018/db"),
        ("mongodb://%2Ftmp%2Fmongodb-27017.sock/db", "mongodb://%2Ftmp%2Fmongodb-27017.sock/db"),
        ("mongodb://db.example.com/?authMechanism=MONGODB-X509&tls=true"
         "&tlsCertificateKeyFile=/etc/ssl/client.pem&tlsCertificateKeyFilePassword=s3cr3t&w=1",
         "mongodb://db.example.com/?authMechanism=MONGODB-X509&tls=true"
         "&tlsCertificateKeyFile=/etc/ssl/client.pem&tlsCertificateKeyFilePassword=***&w=1"),
        ("mongodb://AKIAEXAMPLE:wJalrXUtnFEMI%2FK7MDENG@cluster0.example.com/testdb"
         "?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:FwoGZXIvY",
         "mongodb://AKIAEXAMPLE:***@cluster0.example.com/testdb"
         "?authMechanism=MONGODB-AWS&authMechanismProperties=***"),
        ("mongodb://h/?authMechanism=MONGODB-OIDC&AUTHMECHANISMPROPERTIES=ENVIRONMENT:azure,"
         "TOKEN_RESOURCE:x;proxyHost=p;proxyPassword=pp;ssl_pem_passphrase=x",
         "mongodb://h/?authMechanism=MONGODB-OIDC&AUTHMECHANISMPROPERTIES=***;proxyHost=p;"
         "proxyPassword=***;ssl_pem_passphrase=***"),
        # passwords with characters left unescaped
        ("mongodb://u:pa/ss@h1:1,h2/db?w=1", "mongodb://u:***@h1:1,h2/db?w=1"),
        ("mongodb://u:pa#ss@h", "mongodb://u:***@h"),
        ("mongodb://u:pa?ss@h/?w=1", "mongodb://u:***@h/?w=1"),
        ("mongodb://u:p@ss:w@rd@h:1", "mongodb://u:***@h:1"),
        ("mongodb://h/?tlsCertificateKeyFilePassword=a&b?c#d@e:f&tls=true",
         "mongodb://h/?tlsCertificateKeyFilePassword=***&tls=true"),
        ("mongodb://h:1/?tlsCertificateKeyFilePassword=p@ss", "mongodb://h:***"),
        ("mongodb://u:a&password=b@h", "mongodb://u:***"),
        # Kafka: faust's URL, also a ;-separated list
        ("kafka://localhost:9092", "kafka://localhost:9092"),
        ("kafka://user:hunter2@broker:9092", "kafka://user:***@broker:9092"),
        ("kafka://h1:9092;kafka://h2:9092", "kafka://h1:9092;kafka://h2:9092"),
        ("kafka://u:p@h1:9092;kafka://h2:9092", "kafka://u:***@h1:9092;kafka://h2:9092"),
        ("kafka://h1:9092;kafka://u:p@h2:9092", "kafka://h1:***@h2:9092"),
        ("cryptoflow-data", "cryptoflow-data"),
    ],
)
def test_mask_uri(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked


PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


@given(st.text(PRINTABLE, min_size=1))
def test_no_password_in_the_user_info_is_shown(secret: str) -> None:
    masked = mask_uri(f"mongodb://user:{secret}@h1:27017,h2/db?authSource=admin")
    assert masked.startswith("mongodb://user:***")
    if not set(secret) & set("?&;"):  # characters that could start an option
        assert masked == "mongodb://user:***@h1:27017,h2/db?authSource=admin"
    else:
        shown = "mongodb://user:***@h1:27017,h2/db"
        assume(len(secret) > 3 and secret not in shown)
        assert secret not in masked


@given(st.text(PRINTABLE.filter(lambda c: c != "="), max_size=30))
def test_no_password_in_an_option_is_shown(secret: str) -> None:
    # An '=' after an unescaped '&' would start another option, for MongoDB too.
    masked = mask_uri(f"mongodb://h1,h2/?tls=true&tlsCertificateKeyFilePassword={secret}")
    assert masked == "mongodb://h1,h2/?tls=true&tlsCertificateKeyFilePassword=***"


@pytest.mark.parametrize(
    ("symbol", "topic"),
    [("BTCUSDT", "btc"), ("ETHUSDT", "eth"), ("SOLUSDT", "sol"), ("ETHBTC", "ethbtc"),
     ("USDT", "usdt"), ("BNBFDUSD", "bnbfdusd")],
)
def test_topic_names_follow_the_original_design(symbol: str, topic: str) -> None:
    assert topic_name(symbol) == topic


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# local settings\n\nexport CRYPTOFLOW_MONGO_DB='prices'\nCRYPTOFLOW_WEB_PORT=7000\n"
    )
    settings = Settings.from_env({"CRYPTOFLOW_WEB_PORT": "7001"}, env_file=env_file)
    assert settings.mongo_db == "prices"
    assert settings.web_port == 7001


def test_a_malformed_env_file_line_is_named(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CRYPTOFLOW_WEB_PORT=1\nnot a setting\n")
    with pytest.raises(SettingsError, match=r"\.env:2: expected KEY=VALUE"):
        read_env_file(env_file)


def test_the_worker_refuses_to_start_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import cryptoflow"],
        env={"CRYPTOFLOW_POLL_INTERVAL": "soon", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "cryptoflow: invalid setting CRYPTOFLOW_POLL_INTERVAL: "
        "expected a number of seconds, got 'soon'"
    ]


def test_plaintext_kafka_needs_no_credentials() -> None:
    assert Settings.from_env({}, env_file=None).broker_credentials() is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"])
def test_sasl_settings_become_faust_sasl_credentials(mechanism: str) -> None:
    settings = Settings.from_env(
        {"CRYPTOFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
         "CRYPTOFLOW_KAFKA_SASL_MECHANISM": mechanism,
         "CRYPTOFLOW_KAFKA_SASL_USERNAME": "pipeline",
         "CRYPTOFLOW_KAFKA_SASL_PASSWORD": "s3cret"},
        env_file=None,
    )
    credentials = settings.broker_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == mechanism.upper()
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("pipeline", "s3cret")
    assert "s3cret" not in settings.describe()
    assert "kafka_sasl_password=***" in settings.describe()


def test_sasl_plaintext_has_no_tls_and_ssl_alone_has_no_sasl(tmp_path: Path) -> None:
    plain = Settings.from_env(
        {"CRYPTOFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
         "CRYPTOFLOW_KAFKA_SASL_USERNAME": "u", "CRYPTOFLOW_KAFKA_SASL_PASSWORD": "p"},
        env_file=None,
    ).broker_credentials()
    assert credentials_to_aiokafka_auth(plain)["security_protocol"] == "SASL_PLAINTEXT"
    tls = Settings.from_env(
        {"CRYPTOFLOW_KAFKA_SECURITY_PROTOCOL": "SSL"}, env_file=None).broker_credentials()
    assert isinstance(tls, faust.SSLCredentials)
    assert credentials_to_aiokafka_auth(tls)["security_protocol"] == "SSL"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CRYPTOFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "CRYPTOFLOW_KAFKA_SASL_USERNAME"),
        ({"CRYPTOFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
          "CRYPTOFLOW_KAFKA_SASL_USERNAME": "u"}, "CRYPTOFLOW_KAFKA_SASL_PASSWORD"),
        ({"CRYPTOFLOW_KAFKA_SECURITY_PROTOCOL": "TLS"}, "CRYPTOFLOW_KAFKA_SECURITY_PROTOCOL"),
        ({"CRYPTOFLOW_KAFKA_SASL_MECHANISM": "GSSAPI"}, "CRYPTOFLOW_KAFKA_SASL_MECHANISM"),
        ({"CRYPTOFLOW_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "CRYPTOFLOW_KAFKA_SSL_CAFILE"),
    ],
)
def test_incomplete_kafka_security_is_refused(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, env_file=None)
    assert caught.value.variable == variable


def test_web_host_can_be_this_machines_name() -> None:
    settings = Settings.from_env({"CRYPTOFLOW_WEB_HOST": "@hostname"}, env_file=None)
    assert settings.web_host == socket.gethostname()


def test_the_producer_lingers_as_set() -> None:
    """faust's own default sends a produce request per loop turn (0 s linger)."""
    from cryptoflow import app  # the worker's app, built from this environment

    assert app.settings.producer_linger == 0.01
    assert app.conf.producer_linger == app.settings.producer_linger


@pytest.mark.parametrize(("value", "loop"), [
    (None, "uvloop.Loop"), ("uvloop", "uvloop.Loop"), ("ASYNCIO", "_UnixSelectorEventLoop"),
])
def test_the_worker_runs_on_the_event_loop_set(
    tmp_path: Path, value: str | None, loop: str,
) -> None:
    """Chosen when the app is imported, as ``faust -A cryptoflow worker`` does, before the
    worker makes its loop (unset: uvloop)."""
    env = {"PATH": "/usr/bin:/bin"} | ({} if value is None else {"CRYPTOFLOW_EVENT_LOOP": value})
    shown = subprocess.run(
        [sys.executable, "-c", "import cryptoflow\n"
         "from mode.utils.loops import get_event_loop\n"
         "print(type(get_event_loop()).__qualname__)"],
        env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.split()[-1] == loop.rpartition(".")[2]


def test_an_unknown_event_loop_is_refused() -> None:
    with pytest.raises(SettingsError, match="CRYPTOFLOW_EVENT_LOOP"):
        Settings.from_env({"CRYPTOFLOW_EVENT_LOOP": "tokio"}, env_file=None)


@pytest.mark.parametrize(("rest", "ws", "warned"), [
    ("http://127.0.0.1:8081", "wss://stream.binance.com:9443", True),  # forgot the WS URL
    ("https://api.binance.com", "ws://127.0.0.1:8081", True),
    ("https://api.binance.us", "wss://stream.binance.com:9443", True),
    ("http://127.0.0.1:8081", "ws://localhost:8081", False),
    ("https://data-api.binance.vision", "wss://stream.binance.com:443", False),
    ("https://api3.binance.com", "wss://data-stream.binance.vision", False),
    ("https://api.binance.us", "wss://stream.binance.us:9443", False),
    ("https://testnet.binance.vision", "wss://stream.testnet.binance.vision", False),
])
def test_rest_and_stream_urls_of_different_exchanges_are_warned_of(
    rest: str, ws: str, warned: bool,
) -> None:
    settings = Settings.from_env(
        {"CRYPTOFLOW_BINANCE_URL": rest, "CRYPTOFLOW_BINANCE_WS_URL": ws}, env_file=None)
    warnings = settings.warnings()
    assert bool(warnings) is warned
    if warned:
        (warning,) = warnings
        assert "CRYPTOFLOW_BINANCE_WS_URL" in warning and "not the same exchange" in warning
    quiet = Settings.from_env({"CRYPTOFLOW_BINANCE_URL": rest, "CRYPTOFLOW_BINANCE_WS_URL": ws,
                               "CRYPTOFLOW_STREAMS": "none"}, env_file=None)
    assert not quiet.warnings()  # no stream, nothing to mix up
