"""Look at a Kafka topic: existence, partitions, messages, arrival rate and consumer lag (check)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from runbook_engine.plugin import Context, Duration, Outputs, PluginSpec, StepError, require

if TYPE_CHECKING:
    from confluent_kafka import Consumer

NAME = "kafka.topic"
KINDS = frozenset({"check"})
DEFAULT_EXPECT = ["exists"]
OUTPUTS = {
    "exists": "true when the broker knows the topic",
    "partitions": "number of partitions (0 when the topic does not exist)",
    "messages": "end minus start offsets summed over all partitions (records retained)",
    "end_offsets": "end (high watermark) offset of each partition, indexed by partition number",
    "rate_per_s": "offsets added per second over `window`, or null without a window",
    "lag": "total lag of `group` (end minus committed offsets); null without a group or topic",
    "elapsed_ms": "time spent talking to the broker (the window excluded), in milliseconds",
}
# No timeout given to the step: still never wait forever for a broker.
DEFAULT_BUDGET_S = 30.0
# Seconds kept back from the step's timeout so that our own, clearer error wins the race
# against the engine's "timed out" (and closing the client has time to run).
MARGIN_S = 0.5


class Spec(PluginSpec):
    bootstrap: str = Field(
        min_length=1, description="Broker addresses, host:port[,host:port...] (bootstrap.servers)."
    )
    topic: str = Field(min_length=1, description="The topic to look at.")
    group: str | None = Field(
        default=None, min_length=1, description="A consumer group whose lag to report."
    )
    window: Duration = Field(
        default=0.0,
        ge=0,
        description="Measure rate_per_s over this long (e.g. 5s); 0 measures no rate.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How to talk to the brokers (security.protocol)."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism, for the SASL_* protocols."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: str | None = Field(
        default=None,
        description="SASL password: pass it as a secret ({{ secrets.NAME }}); it is never shown.",
    )
    ssl_ca: str | None = Field(
        default=None, description="CA certificate file for SSL/SASL_SSL (relative to the project)."
    )

    @model_validator(mode="after")
    def _security(self) -> Spec:
        sasl = self.security_protocol.startswith("SASL_")
        given = [n for n in ("sasl_mechanism", "sasl_username", "sasl_password") if getattr(self, n)]
        if sasl and len(given) < 3:
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, sasl_username"
                " and sasl_password"
            )
        if not sasl and given:
            raise ValueError(
                f"{', '.join(given)} given but security_protocol is {self.security_protocol}:"
                " use SASL_PLAINTEXT or SASL_SSL"
            )
        if self.ssl_ca and not self.security_protocol.endswith("SSL"):
            raise ValueError("ssl_ca needs security_protocol SSL or SASL_SSL")
        return self


def _config(spec: Spec, ctx: Context) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": spec.bootstrap,
        # The group id is needed to read committed offsets; this check never joins the
        # group (no subscribe), so it cannot disturb the real consumers' assignment.
        "group.id": spec.group or "runbook-kafka-topic",
        "enable.auto.commit": False,
        # Asking for one topic must never create it on brokers that auto-create.
        "allow.auto.create.topics": False,
        # librdkafka would print its reconnect attempts on stderr, in the middle of the
        # console output; what went wrong reaches the step through the exception instead.
        "log_level": 0,
        "security.protocol": spec.security_protocol,
    }
    if spec.sasl_mechanism:
        config["sasl.mechanism"] = spec.sasl_mechanism
        config["sasl.username"] = spec.sasl_username
        config["sasl.password"] = spec.sasl_password
    if spec.ssl_ca:
        config["ssl.ca.location"] = str(ctx.resolve(spec.ssl_ca))
    return config


class _Budget:
    """What is left of the step's time, handed to each blocking broker call, and what the
    client reported on the way (its error callback)."""

    def __init__(self, ctx: Context) -> None:
        remaining = ctx.remaining()
        total = DEFAULT_BUDGET_S if remaining is None else remaining
        self.total = total
        self.deadline = time.monotonic() + max(0.0, total - MARGIN_S)
        self.client_errors: list[str] = []

    def client_error(self, error: Any) -> None:
        if len(self.client_errors) < 100:
            self.client_errors.append(str(error.str()))

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


def _unreachable(spec: Spec, budget: _Budget, exc: BaseException, consumer: Consumer) -> StepError:
    # The exception only says "transport failure"; the why (refused, SASL authentication
    # failed, SSL handshake) reaches the error callback, which poll() serves.
    consumer.poll(0)
    useful = [e for e in budget.client_errors if "brokers are down" not in e]
    why = f"; the client saw: {useful[-1]}" if useful else ""
    message = (
        f"cannot reach Kafka at {spec.bootstrap} within {budget.total:.1f}s: {_reason(exc)}{why}"
        " (is the broker up, and are bootstrap and the security settings right?)"
    )
    if spec.sasl_password:  # never echoed by librdkafka today; keep it so if that changes
        message = message.replace(spec.sasl_password, "********")
    return StepError(message)


def _reason(exc: BaseException) -> str:
    # KafkaException carries a KafkaError whose str() is the readable reason.
    err: Any = exc.args[0] if exc.args else None
    return str(err.str()) if hasattr(err, "str") else str(exc)


def _end_offsets(
    consumer: Consumer, spec: Spec, partitions: list[int], budget: _Budget
) -> tuple[list[int], list[int]]:
    """(start, end) offsets of each partition."""
    from confluent_kafka import KafkaException, TopicPartition

    starts, ends = [], []
    for number in partitions:
        if budget.left() <= 0:
            raise StepError(f"Kafka at {spec.bootstrap} did not answer in time (offsets of {spec.topic})")
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(spec.topic, number), timeout=budget.left(), cached=False
            )
        except KafkaException as exc:
            raise _unreachable(spec, budget, exc, consumer) from None
        starts.append(low)
        ends.append(high)
    return starts, ends


def _partitions(consumer: Consumer, spec: Spec, budget: _Budget) -> list[int] | None:
    """The topic's partition numbers, or None when the broker does not know the topic."""
    from confluent_kafka import KafkaError, KafkaException

    try:
        metadata = consumer.list_topics(spec.topic, timeout=max(0.05, budget.left()))
    except KafkaException as exc:
        raise _unreachable(spec, budget, exc, consumer) from None
    topic = metadata.topics.get(spec.topic)
    if topic is None:
        return None
    if topic.error is not None:
        if topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise StepError(f"Kafka at {spec.bootstrap} refused topic {spec.topic!r}: {topic.error.str()}")
    return sorted(topic.partitions)


def _lag(
    consumer: Consumer, spec: Spec, partitions: list[int], offsets: tuple[list[int], list[int]],
    budget: _Budget,
) -> int:
    from confluent_kafka import KafkaException, TopicPartition

    starts, ends = offsets
    index = {number: i for i, number in enumerate(partitions)}
    wanted = [TopicPartition(spec.topic, n) for n in partitions]
    try:
        committed = consumer.committed(wanted, timeout=max(0.05, budget.left()))
    except KafkaException as exc:
        raise _unreachable(spec, budget, exc, consumer) from None
    lag = 0
    for part in committed:
        # A partition the group never committed counts from its start: everything retained
        # is still unread by that group (the conservative reading for a go/no-go).
        if part.error is not None:
            raise StepError(
                f"cannot read the committed offsets of group {spec.group!r} at {spec.bootstrap}:"
                f" {part.error.str()}"
            )
        # (librdkafka marks "no offset" with a negative number.)
        i = index[part.partition]
        offset = part.offset if part.offset >= 0 else starts[i]
        lag += max(0, ends[i] - offset)
    return lag


def run(spec: Spec, ctx: Context) -> Outputs:
    kafka = require("confluent_kafka", "kafka")
    budget = _Budget(ctx)
    if spec.window and spec.window >= budget.left():
        raise StepError(
            f"window {spec.window:g}s does not fit in the step's timeout"
            f" ({ctx.timeout if ctx.timeout is not None else budget.total:g}s):"
            " give the step a `timeout:` longer than the window"
        )
    try:
        consumer = kafka.Consumer({**_config(spec, ctx), "error_cb": budget.client_error})
    except kafka.KafkaException as exc:  # a setting the client refuses (unreadable ssl_ca...)
        raise StepError(f"cannot set up a Kafka client for {spec.bootstrap}: {_reason(exc)}") from None
    waited = 0.0
    try:
        start = time.perf_counter()
        partitions = _partitions(consumer, spec, budget)
        if partitions is None:
            ctx.log(f"{spec.bootstrap}: topic {spec.topic!r} does not exist")
            return {
                "exists": False, "partitions": 0, "messages": 0, "end_offsets": [],
                "rate_per_s": None, "lag": None,
                "elapsed_ms": round((time.perf_counter() - start) * 1000, 3),
            }
        starts, ends = _end_offsets(consumer, spec, partitions, budget)
        rate = None
        if spec.window:
            before, first = sum(ends), time.perf_counter()
            if ctx.cancel.wait(spec.window):
                raise StepError("cancelled while measuring the rate")
            starts, ends = _end_offsets(consumer, spec, partitions, budget)
            waited = time.perf_counter() - first
            rate = round((sum(ends) - before) / waited, 3)
        lag = _lag(consumer, spec, partitions, (starts, ends), budget) if spec.group else None
        elapsed_ms = round((time.perf_counter() - start - waited) * 1000, 3)
    finally:
        consumer.close()
    messages = sum(e - s for s, e in zip(starts, ends, strict=True))
    ctx.log(
        f"{spec.bootstrap}: {spec.topic} has {len(partitions)} partition(s), end offsets {ends},"
        f" {messages} message(s)"
        + (f", {rate}/s over {waited:.1f}s" if rate is not None else "")
        + (f", group {spec.group} lag {lag}" if lag is not None else "")
    )
    return {
        "exists": True, "partitions": len(partitions), "messages": messages, "end_offsets": ends,
        "rate_per_s": rate, "lag": lag, "elapsed_ms": elapsed_ms,
    }
