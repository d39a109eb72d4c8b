"""One runbook mixing the platform plugins, run by the real CLI against real components.

Issue 4's "done when": compose up a two-container project and wait until healthy, look
at a container, query an Iceberg table and a DuckDB file, read a metric through
Prometheus, run an Ansible playbook on localhost, compose down. It passes; breaking any
one component turns exactly that step red, with a message that says why.

The components are shared by the module (one dockerd, one Prometheus scraping one
exporter, one Iceberg catalog, one standalone container); each test gets its own project
folder (compose file, DuckDB file, playbook). A case that breaks a shared component
mends it before the next test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Project
from tests.support.ansible import ini_inventory
from tests.support.dockerd import (
    DockerEngine,
    free_port,
    http_service,
    remove_project,
    shared_engine,
    write_compose,
)
from tests.support.iceberg import catalog_props, open_catalog, seed_events
from tests.support.prometheus import (
    AUTH_HEADERS,
    Prometheus,
    metrics_endpoint,
    prometheus_server,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugin-examples.md"
COMPOSE_PROJECT = "platform"
PROXY = "edge-proxy"
GOOD_LAG, BAD_LAG = 2.5, 120.0
RELEASE = "1.4.2"
MS = 1_000_000  # Docker healthcheck durations are nanoseconds

# The runbook under test, verbatim in docs/plugin-examples.md. Where things are (ports,
# the catalog, the Prometheus URL) comes from the `local` environment written per test.
RUNBOOK = """
kind: runbook
name: platform-check
title: The platform is up, its data is in, its metrics flow
secrets: [PROMETHEUS_AUTH]
sections:
  - name: Stack
    steps:
      - name: Stack is up and healthy
        id: stack-up
        action: compose
        with: {command: up, file: compose/docker-compose.yml, project: platform, wait: true}
        timeout: 60s
        expect: [exit_code == 0, ready, "missing == []", "unhealthy == []"]
      - name: Both services run healthy
        id: services-healthy
        check: compose.services
        needs: [stack-up]
        with: {file: compose/docker-compose.yml, project: platform}
        expect: [expected == 2, healthy == 2]
      - name: The edge proxy container is healthy
        id: proxy
        check: docker.container
        with: {name: "{{ env.proxy_container }}"}
        expect: [exists, status == "running", health == "healthy", restart_count == 0]
  - name: Data
    steps:
      - name: Events table holds the morning load
        id: events-table
        check: iceberg.table
        with:
          catalog: {name: k2, type: sql, uri: "{{ env.catalog_uri }}", warehouse: "{{ env.warehouse }}"}
          table: ops.events
          sql: SELECT count(DISTINCT kind) AS kinds FROM events
        expect: [exists, row_count == 5, value == 2]
      - name: Paid orders are in the warehouse
        id: orders
        check: duckdb.query
        with:
          database: data/orders.duckdb
          sql: SELECT count(*) AS paid, sum(amount) AS total FROM orders WHERE status = $status
          params: {status: paid}
        expect: [value == 3, "rows[0].total == 60"]
  - name: Metrics
    steps:
      - name: Ingest lag is under 30 s
        id: ingest-lag
        check: prometheus.query
        with:
          url: "{{ env.prometheus_url }}"
          query: k2_ingest_lag_seconds
          headers: {Authorization: "{{ secrets.PROMETHEUS_AUTH }}"}
        expect: [series_count == 1, value < 30]
        wait: {timeout: 10s, interval: 500ms}   # the first scrape lands ~5 s after Prometheus starts
  - name: Hosts
    steps:
      - name: Release 1.4.2 is installed
        id: release
        action: ansible
        with:
          playbook: ansible/release.yml
          inventory: ansible/hosts.ini
          extra_vars: {release_file: "{{ env.release_file }}", expected: "1.4.2"}
        expect: [status == "successful", "failed_tasks == []"]
  - name: Teardown
    steps:
      - name: Stack is down
        id: stack-down
        action: compose
        with: {command: down, file: compose/docker-compose.yml, project: platform}
        expect: [exit_code == 0, running == 0]
"""

PLAYBOOK = """
- name: Release check
  hosts: all
  gather_facts: false
  tasks:
    - name: Release file
      ansible.builtin.assert:
        that: lookup('ansible.builtin.file', release_file) == expected
        fail_msg: "RELEASE says {{ lookup('ansible.builtin.file', release_file) }}, not {{ expected }}"
        quiet: true
"""

STEP_IDS = [
    "stack-up",
    "services-healthy",
    "proxy",
    "events-table",
    "orders",
    "ingest-lag",
    "release",
    "stack-down",
]


# --- Shared components ----------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """One dockerd for the whole test session (shared with the other docker test modules)."""
    with shared_engine() as engine:
        yield engine


@dataclass
class Metrics:
    """The exporter's gauge and the Prometheus server scraping it."""

    gauge: Any
    server: Prometheus

    def set_lag(self, seconds: float, seen_as: str) -> None:
        """Set the gauge and wait until Prometheus has scraped it (``seen_as`` holds)."""
        self.gauge.set(seconds)
        self.server.wait_for_value(seen_as, deadline_s=15)


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metrics]:
    """A prometheus_client exporter with an ingest-lag gauge, scraped by a real Prometheus."""
    import prometheus_client

    registry = prometheus_client.CollectorRegistry()
    gauge = prometheus_client.Gauge("k2_ingest_lag_seconds", "Ingest lag", registry=registry)
    gauge.set(GOOD_LAG)
    with metrics_endpoint(registry) as url:
        target = urlsplit(url).netloc
        with prometheus_server(tmp_path_factory.mktemp("prometheus"), [target]) as server:
            # No wait for the first scrape here: the runbook's `wait:` does that.
            yield Metrics(gauge, server)


@pytest.fixture(scope="module")
def catalog_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pyiceberg SQL catalog holding ops.events: 5 rows of 2 kinds."""
    root = tmp_path_factory.mktemp("iceberg")
    seed_events(root)
    return root


def _await_healthy(container: Any, deadline_s: float = 15.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(0.1)
    pytest.fail(f"container {container.name} not healthy after {deadline_s:g}s: {container.status}")


@pytest.fixture(scope="module")
def proxy(docker_engine: DockerEngine) -> Iterator[Any]:
    """A standalone busybox httpd container with a healthcheck, outside the compose project."""
    client = docker_engine.client()
    port = free_port()
    container = client.containers.run(
        docker_engine.image,
        ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
        name=PROXY,
        detach=True,
        network_mode="host",
        init=True,
        healthcheck={
            "test": ["CMD", "wget", "-q", "-O-", f"http://127.0.0.1:{port}/"],
            "interval": 250 * MS,
            "timeout": 2000 * MS,
            "retries": 2,
        },
    )
    try:
        _await_healthy(container)
        yield container
    finally:
        container.remove(force=True)
        client.close()


# --- One project folder per test ------------------------------------------------------


@dataclass
class Platform:
    """A project folder wired to the shared components, ready to run the runbook."""

    project: Project
    engine: DockerEngine
    metrics: Metrics
    catalog_root: Path
    proxy: Any

    @property
    def compose_file(self) -> Path:
        return self.project.root / "compose" / "docker-compose.yml"

    @property
    def duckdb_file(self) -> Path:
        return self.project.root / "data" / "orders.duckdb"

    @property
    def release_file(self) -> Path:
        return self.project.root / "host" / "RELEASE"

    def run(self) -> tuple[int, dict[str, Any]]:
        report = self.project.root / "journal.json"
        result = self.project.cli("run", "platform-check", "--no-history", "--report", str(report))
        if not report.is_file():
            pytest.fail(f"runbook did not run (exit {result.code}):\n{result.out}\n{result.err}")
        journal: dict[str, Any] = json.loads(report.read_text())
        return result.code, journal


def write_orders(path: Path) -> None:
    """A DuckDB file with 3 paid orders (10 + 20 + 30) and 1 refunded one."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, status VARCHAR, amount DECIMAL(10, 2))")
        conn.execute(
            "INSERT INTO orders VALUES (1, 'paid', 10), (2, 'paid', 20), (3, 'refunded', 5), (4, 'paid', 30)"
        )


@pytest.fixture
def platform(
    project: Project,
    docker_engine: DockerEngine,
    metrics: Metrics,
    catalog_root: Path,
    proxy: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Platform]:
    """The runbook, its `local` environment, a compose file, a DuckDB file and a playbook."""
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    monkeypatch.setenv("PROMETHEUS_AUTH", AUTH_HEADERS["Authorization"])
    plat = Platform(project, docker_engine, metrics, catalog_root, proxy)
    write_compose(plat.compose_file.parent, {"web": http_service(free_port()), "api": http_service(free_port())})
    write_orders(plat.duckdb_file)
    plat.release_file.parent.mkdir()
    plat.release_file.write_text(RELEASE + "\n")
    project.write("ansible/release.yml", PLAYBOOK)
    project.write("ansible/hosts.ini", ini_inventory("localhost"))
    props = catalog_props(catalog_root)
    env = {
        "kind": "environment",
        "name": "local",
        "vars": {
            "proxy_container": PROXY,
            "catalog_uri": props["uri"],
            "warehouse": props["warehouse"],
            "prometheus_url": metrics.server.url,
            "release_file": str(plat.release_file),
        },
    }
    project.write("runbooks/environments/local.yaml", json.dumps(env, indent=2))  # JSON is YAML
    project.runbook("platform-check", RUNBOOK)
    try:
        yield plat
    finally:
        # The runbook downs the project itself; this covers a run that stopped midway.
        remove_project(docker_engine, COMPOSE_PROJECT)


def steps_of(journal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for section in journal["sections"] for step in section["steps"]}


def why(steps: dict[str, dict[str, Any]]) -> str:
    """The messages of the steps that did not pass, for an assertion that fails."""
    return "\n".join(f"{sid}: {s['outcome']}: {s['message']}" for sid, s in steps.items() if s["message"])


def test_the_platform_runbook_passes(platform: Platform) -> None:
    """Every step of the mixed runbook passes against the real components: exit 0, GO."""
    code, journal = platform.run()
    steps = steps_of(journal)
    outcomes = {sid: s["outcome"] for sid, s in steps.items()}
    assert outcomes == dict.fromkeys(STEP_IDS, "passed"), why(steps)
    assert (code, journal["verdict"], journal["reasons"]) == (0, "GO", [])
    assert [s["destructive"] for s in steps.values()] == [False] * len(STEP_IDS)
    up = steps["stack-up"]["outputs"]
    assert (up["tool"], up["ready"], up["expected"], up["healthy"]) == ("docker compose", True, 2, 2)
    assert steps["proxy"]["outputs"]["name"] == PROXY
    assert steps["events-table"]["outputs"]["rows"] == [{"kinds": 2}]
    assert steps["orders"]["outputs"]["rows"] == [{"paid": 3, "total": 60.0}]
    assert steps["ingest-lag"]["outputs"]["value"] == GOOD_LAG
    assert steps["release"]["outputs"]["stats"]["localhost"]["failed"] == 0
    assert steps["stack-down"]["outputs"]["running"] == 0


# --- Breakages: each one turns exactly its step red ------------------------------------

Mend = Callable[[], None]


def crash_a_service(plat: Platform) -> Mend | None:
    """The api service exits at start (its config is missing)."""
    crashing = {**http_service(free_port()), "command": ["sh", "-c", "echo config missing >&2; exit 3"]}
    write_compose(plat.compose_file.parent, {"web": http_service(free_port()), "api": crashing})
    return None


def stop_the_proxy(plat: Platform) -> Mend | None:
    """The standalone proxy container is stopped."""
    plat.proxy.stop(timeout=5)

    def mend() -> None:
        plat.proxy.start()
        _await_healthy(plat.proxy)

    return mend


def drop_the_table(plat: Platform) -> Mend | None:
    """The Iceberg table is dropped from its catalog."""
    open_catalog(plat.catalog_root).drop_table("ops.events")

    def mend() -> None:
        seed_events(plat.catalog_root)

    return mend


def remove_the_duckdb_file(plat: Platform) -> Mend | None:
    """The DuckDB file is gone."""
    plat.duckdb_file.unlink()
    return None


def raise_the_lag(plat: Platform) -> Mend | None:
    """The exporter reports a lag of 120 s, and Prometheus has scraped it."""
    plat.metrics.set_lag(BAD_LAG, seen_as=f"k2_ingest_lag_seconds == {BAD_LAG:g}")
    return lambda: plat.metrics.set_lag(GOOD_LAG, seen_as=f"k2_ingest_lag_seconds == {GOOD_LAG:g}")


def install_an_old_release(plat: Platform) -> Mend | None:
    """The host runs release 1.4.1, so the playbook's assertion fails."""
    plat.release_file.write_text("1.4.1\n")
    return None


BREAKAGES: list[Any] = [
    pytest.param(
        crash_a_service,
        {"stack-up": "failed", "services-healthy": "blocked"},
        ["ready -> ready = False", "missing == [] -> missing = ['api']"],
        id="compose-service-crashes",
    ),
    pytest.param(
        stop_the_proxy,
        {"proxy": "failed"},
        ["status == \"running\" -> status = 'exited'"],
        id="container-stopped",
    ),
    pytest.param(
        drop_the_table,
        {"events-table": "failed"},
        ["exists -> exists = False"],
        id="iceberg-table-dropped",
    ),
    pytest.param(
        remove_the_duckdb_file,
        {"orders": "error"},
        ["database file not found:", "data/orders.duckdb"],
        id="duckdb-file-missing",
    ),
    pytest.param(
        raise_the_lag,
        {"ingest-lag": "failed"},
        ["still not passing after waiting 10s", "value < 30 -> value = 120.0"],
        id="prometheus-metric-too-high",
    ),
    pytest.param(
        install_an_old_release,
        {"release": "failed"},
        ["status == \"successful\" -> status = 'failed'", "RELEASE says 1.4.1, not 1.4.2"],
        id="ansible-task-fails",
    ),
]


@pytest.mark.parametrize(("breakage", "red", "says"), BREAKAGES)
def test_breaking_one_component_turns_exactly_its_step_red(
    platform: Platform,
    breakage: Callable[[Platform], Mend | None],
    red: dict[str, str],
    says: list[str],
) -> None:
    """One broken component: its step (and what needs it) is red and says why; the rest pass."""
    mend = breakage(platform)
    try:
        code, journal = platform.run()
    finally:
        if mend is not None:
            mend()
    steps = steps_of(journal)
    expected = {sid: red.get(sid, "passed") for sid in STEP_IDS}
    assert {sid: s["outcome"] for sid, s in steps.items()} == expected, why(steps)
    assert (code, journal["verdict"]) == (1, "NO-GO")
    culprit = next(sid for sid, outcome in red.items() if outcome != "blocked")
    message = steps[culprit]["message"]
    for words in says:
        assert words in message
    for sid, outcome in red.items():
        if outcome == "blocked":
            assert steps[sid]["message"] == f"needs {culprit}, which did not pass"


def test_the_docs_show_this_runbook() -> None:
    """docs/plugin-examples.md shows the runbook this module runs, verbatim."""
    assert RUNBOOK.strip() in DOCS.read_text(encoding="utf-8")
