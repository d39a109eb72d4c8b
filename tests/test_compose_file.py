"""The K2 compose stack (compose/) checked without a Docker engine.

Our machines cannot pull images, so `docker compose up` never runs here. What can be
checked is checked against the real files the `docker` environment uses: the compose file
against runbooks/environments/docker.yaml and the runbooks' compose steps, the Prometheus
and Grafana files against each other, the dashboard against the metric names k2local
really exports, and the whole file through both Compose CLIs' own validators.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
RUNBOOKS = ROOT / "runbooks"
DOCKER_ENV = RUNBOOKS / "environments" / "docker.yaml"
LOCAL_SECRETS = RUNBOOKS / "environments" / "local.secrets.env"
PROMETHEUS_CONFIG = COMPOSE_DIR / "prometheus" / "prometheus.yml"
GRAFANA_PROVISIONING = COMPOSE_DIR / "grafana" / "provisioning"
GRAFANA_DASHBOARDS = COMPOSE_DIR / "grafana" / "dashboards"
MINIO_START = COMPOSE_DIR / "minio" / "minio-start.sh"

INSTALL_HINT = "run scripts/ci/install-docker.sh (Debian: apt-get install -y docker-compose)"
COMPOSE_PLUGINS = ("compose", "compose.services")
# What each URL of docker.yaml reaches on the host, by the meaning of the variable.
URL_VARS = {
    "api_url": "k2-api",
    "metrics_url": "k2-api",
    "prometheus_url": "prometheus",
    "grafana_url": "grafana",
    "notebook_url": "notebook",
    "catalog.uri": "iceberg-rest",
    "catalog.s3.endpoint": "minio",
}
# The panels the demo's monitoring section needs (k2local/README.md, "Metrics").
DASHBOARD_METRICS = {
    "k2_degradation_level",
    "k2_consumer_lag_messages",
    "k2_iceberg_rows_written_total",
    "k2_trades_ingested_total",
    "k2_api_request_duration_seconds_bucket",
}
PROMQL_FUNCTIONS = {
    "abs",
    "avg",
    "avg_over_time",
    "bottomk",
    "ceil",
    "clamp_max",
    "clamp_min",
    "count",
    "delta",
    "deriv",
    "floor",
    "histogram_quantile",
    "increase",
    "irate",
    "max",
    "max_over_time",
    "min",
    "min_over_time",
    "rate",
    "round",
    "sum",
    "sum_over_time",
    "topk",
    "vector",
}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = _yaml(COMPOSE_FILE)
    assert isinstance(doc, dict), "the compose file must be a mapping"
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    assert isinstance(found, dict) and found, "the compose file has no services: mapping"
    return found


@pytest.fixture(scope="module")
def docker_vars() -> dict[str, Any]:
    doc = _yaml(DOCKER_ENV)
    assert doc["kind"] == "environment" and doc["name"] == "docker"
    return dict(doc["vars"])


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as a dict, whichever of Compose's two spellings it uses."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {str(k): None if v is None else str(v) for k, v in env.items()}
    pairs = (str(item).partition("=") for item in env)
    return {k: (v if sep else None) for k, sep, v in pairs}


def _published(services: dict[str, dict[str, Any]]) -> dict[int, tuple[str, int]]:
    """Host port -> (service, container port), from short and long port syntax."""
    found: dict[int, tuple[str, int]] = {}
    for name, body in services.items():
        for entry in body.get("ports") or []:
            if isinstance(entry, dict):
                host, container = entry.get("published"), entry["target"]
            else:
                parts = str(entry).split("/")[0].split(":")
                host, container = (parts[-2] if len(parts) > 1 else None), parts[-1]
            if host is None:
                continue
            assert int(host) not in found, f"host port {host} is published twice"
            found[int(host)] = (name, int(container))
    return found


def _var(variables: dict[str, Any], dotted: str) -> str:
    """docker.yaml vars, where catalog keys themselves contain dots (s3.endpoint)."""
    head, _, rest = dotted.partition(".")
    value = variables[head]
    return str(value[rest] if rest else value)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _runbook_docs() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(RUNBOOKS.rglob("*.yaml")):
        doc = _yaml(path)
        if isinstance(doc, dict) and doc.get("kind") in ("runbook", "contingency"):
            docs.append((path, doc))
    return docs


def _default(template: str, name: str) -> str:
    """The default of `${NAME:-default}` in a compose value."""
    match = re.fullmatch(r"\$\{" + re.escape(name) + r":-([^}]*)\}", template)
    assert match, f"expected ${{{name}:-...}}, found {template!r}"
    return match.group(1)


def _exported_metric_names() -> set[str]:
    """Every sample name the real k2local API exposes, rendered from its own registry."""
    from k2local.health import Observation
    from k2local.metrics import ApiMetrics
    from prometheus_client.parser import text_string_to_metric_families

    def observe() -> Observation:
        now = time.time()
        return Observation(
            now=now,
            table={"rows": 5000, "snapshots": 3},
            table_error=None,
            feed={"last_batch_at": now, "interval_s": 1.0, "lag_messages": 0},
            feed_pid=None,
            kernel={"at": now},
            kernel_pid=None,
        )

    metrics = ApiMetrics(observe)
    # Labelled series appear only once observed.
    metrics.observe_request("/v1/trades", 200, 0.01)
    text = metrics.render().decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label values, ranges, groupings removed)."""
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names = set()
    for match in re.finditer(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\b(\s*\()?", bare):
        word, call = match.group(1), match.group(2)
        if call:
            assert word in PROMQL_FUNCTIONS, f"unknown PromQL function {word!r} in {expr!r}"
        elif word not in PROMQL_KEYWORDS:
            names.add(word)
    return names


def _dashboards() -> list[tuple[Path, dict[str, Any]]]:
    paths = sorted(GRAFANA_DASHBOARDS.glob("*.json"))
    assert paths, f"no dashboard JSON in {GRAFANA_DASHBOARDS}"
    return [(p, json.loads(p.read_text(encoding="utf-8"))) for p in paths]


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # panels folded inside a row


def _compose_config(command: list[str], api_key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "K2_API_KEY"}
    if api_key is not None:
        env["K2_API_KEY"] = api_key
    return subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _compose_v1() -> list[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail(f"docker-compose (Compose v1) not found: {INSTALL_HINT}")
    return [tool]


def test_compose_file_parses_as_a_mapping_of_services(services: dict[str, dict[str, Any]]) -> None:
    """The compose file is YAML whose services are each a mapping with a pinned image."""
    for name, body in services.items():
        assert isinstance(body, dict), name
        image = str(body.get("image", ""))
        # A configurable image (${K2_API_IMAGE:-...}) must still default to a pinned one.
        configurable = re.fullmatch(r"\$\{[A-Z0-9_]+:-([^}]+)\}", image)
        default = configurable.group(1) if configurable else image
        assert re.search(r":[^/:]+$", default) and not default.endswith(":latest"), (
            f"{name}: pin a tag ({image})"
        )


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    """Every service has an enabled healthcheck with a CMD or CMD-SHELL test."""
    lacking = []
    for name, body in services.items():
        check = body.get("healthcheck") or {}
        test = check.get("test")
        if (
            check.get("disable")
            or not test
            or (isinstance(test, list) and test[0] not in ("CMD", "CMD-SHELL"))
        ):
            lacking.append(name)
    assert lacking == []


def test_host_ports_match_the_docker_environment(
    services: dict[str, dict[str, Any]], docker_vars: dict[str, Any]
) -> None:
    """Each URL in docker.yaml reaches, on its host port, the service it is meant for."""
    published = _published(services)
    wrong = {}
    for var, service in URL_VARS.items():
        url = urlsplit(_var(docker_vars, var))
        assert url.hostname in ("localhost", "127.0.0.1"), f"{var} is not on this host: {url.geturl()}"
        assert url.port is not None, f"{var} has no explicit port"
        reached = published.get(url.port, ("nothing", 0))[0]
        if reached != service:
            wrong[var] = f"port {url.port} reaches {reached}, expected {service}"
    assert wrong == {}
    assert docker_vars["api_port"] == urlsplit(docker_vars["api_url"]).port


def test_published_ports_are_local_and_keep_their_number(services: dict[str, dict[str, Any]]) -> None:
    """Every published port is bound to 127.0.0.1 and maps to the same port number inside."""
    published = _published(services)
    assert {host: container for host, (_, container) in published.items() if host != container} == {}
    entries = [str(p) for body in services.values() for p in body.get("ports") or []]
    assert len(entries) == len(published)
    assert [e for e in entries if not e.startswith("127.0.0.1:")] == []


def test_services_named_in_runbooks_exist(
    services: dict[str, dict[str, Any]], docker_vars: dict[str, Any]
) -> None:
    """Every service a compose or compose.services step names exists, in the file docker.yaml names."""
    named: dict[str, set[str]] = {}
    files: set[str] = set()
    for path, doc in _runbook_docs():
        for step in _walk(doc):
            plugin = step.get("action") or step.get("check")
            if plugin not in COMPOSE_PLUGINS:
                continue
            files.add(str(step.get("with", {}).get("file")))
            for service in step.get("with", {}).get("services") or []:
                named.setdefault(service, set()).add(path.relative_to(RUNBOOKS).as_posix())
    assert named, "no runbook names a compose service: the walk found nothing to check"
    assert {s: sorted(where) for s, where in named.items() if s not in services} == {}
    assert files == {"{{ env.compose_file }}"}
    assert (ROOT / docker_vars["compose_file"]).resolve() == COMPOSE_FILE


def test_at_least_min_services_start_by_default(
    services: dict[str, dict[str, Any]], docker_vars: dict[str, Any]
) -> None:
    """`compose up` starts at least docker.yaml's min_services (services without profiles)."""
    default = sorted(n for n, body in services.items() if not body.get("profiles"))
    assert len(default) >= int(docker_vars["min_services"]), default


def test_minio_credentials_and_warehouse_match_the_catalog_settings(
    services: dict[str, dict[str, Any]], docker_vars: dict[str, Any]
) -> None:
    """MinIO's default keys, its bucket and the REST catalog's warehouse are docker.yaml's."""
    catalog = docker_vars["catalog"]
    minio = _environment(services["minio"])
    rest = _environment(services["iceberg-rest"])
    assert _default(str(minio["MINIO_ROOT_USER"]), "K2_S3_ACCESS_KEY") == catalog["s3.access-key-id"]
    assert _default(str(minio["MINIO_ROOT_PASSWORD"]), "K2_S3_SECRET_KEY") == catalog["s3.secret-access-key"]
    assert _default(str(rest["AWS_ACCESS_KEY_ID"]), "K2_S3_ACCESS_KEY") == catalog["s3.access-key-id"]
    assert _default(str(rest["AWS_SECRET_ACCESS_KEY"]), "K2_S3_SECRET_KEY") == catalog["s3.secret-access-key"]
    assert rest["CATALOG_WAREHOUSE"] == catalog["warehouse"]
    assert f"s3://{minio['K2_WAREHOUSE_BUCKET']}/" == catalog["warehouse"]
    assert (catalog["type"], rest["CATALOG_S3_ENDPOINT"]) == ("rest", "http://minio:9000")


def test_minio_startup_script_is_valid_sh_and_mounted(services: dict[str, dict[str, Any]]) -> None:
    """MinIO's entrypoint runs the bucket-creating script that compose mounts, and it parses."""
    minio = services["minio"]
    assert minio["entrypoint"] == ["/bin/sh", "/k2/minio-start.sh"]
    assert "./minio/minio-start.sh:/k2/minio-start.sh:ro" in minio["volumes"]
    result = subprocess.run(["sh", "-n", str(MINIO_START)], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")


def test_prometheus_scrapes_the_api_as_job_k2_api(services: dict[str, dict[str, Any]]) -> None:
    """prometheus.yml has a k2-api job scraping k2-api:8000/metrics, mounted where Prometheus reads it."""
    config = _yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = jobs["k2-api"]
    targets = [t for group in api["static_configs"] for t in group["targets"]]
    assert (api.get("metrics_path", "/metrics"), targets) == ("/metrics", ["k2-api:8000"])
    host, port = targets[0].split(":")
    assert host in services
    assert ("k2-api", int(port)) in _published(services).values()
    assert (
        "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]
    )


def test_promtool_accepts_the_prometheus_config() -> None:
    """Prometheus's own checker accepts compose/prometheus/prometheus.yml."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool not found: run scripts/ci/install-system-packages.sh (apt-get install -y prometheus)"
        )
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisions_the_prometheus_datasource(services: dict[str, dict[str, Any]]) -> None:
    """The provisioned datasource is the stack's Prometheus, and every dashboard panel uses it."""
    files = sorted((GRAFANA_PROVISIONING / "datasources").glob("*.y*ml"))
    sources = [s for f in files for s in _yaml(f)["datasources"]]
    assert [(s["type"], s["url"], s["isDefault"]) for s in sources] == [
        ("prometheus", "http://prometheus:9090", True)
    ]
    assert "prometheus" in services
    uids = {
        str((p.get("datasource") or {}).get("uid"))
        for _, dashboard in _dashboards()
        for panel in _panels(dashboard)
        for p in (panel, *panel.get("targets", []))
    }
    assert uids == {sources[0]["uid"]}


def test_grafana_loads_dashboards_from_the_mounted_folder(services: dict[str, dict[str, Any]]) -> None:
    """The dashboard provider reads the folder compose mounts the dashboard JSON into."""
    files = sorted((GRAFANA_PROVISIONING / "dashboards").glob("*.y*ml"))
    providers = [p for f in files for p in _yaml(f)["providers"]]
    assert [(p["type"], p["options"]["path"]) for p in providers] == [("file", "/etc/grafana/dashboards")]
    volumes = services["grafana"]["volumes"]
    assert "./grafana/dashboards:/etc/grafana/dashboards:ro" in volumes
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    home = _environment(services["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home in {f"/etc/grafana/dashboards/{p.name}" for p, _ in _dashboards()}


def test_dashboard_queries_only_metrics_k2local_exports() -> None:
    """Every panel query reads metric names the k2local API exports, and the key ones are all shown."""
    exported = _exported_metric_names()
    used: set[str] = set()
    for path, dashboard in _dashboards():
        assert dashboard["uid"] and dashboard["title"], path.name
        for panel in _panels(dashboard):
            if panel.get("type") == "row":
                continue
            exprs = [t["expr"] for t in panel.get("targets", [])]
            assert exprs, f"{path.name}: panel {panel.get('title')!r} has no query"
            for expr in exprs:
                names = _metric_names(expr)
                assert names, f"{path.name}: {expr!r} reads no metric"
                used |= names
    assert sorted(used - exported) == []
    assert sorted(DASHBOARD_METRICS - used) == []


def test_k2_api_key_comes_from_the_environment(services: dict[str, dict[str, Any]]) -> None:
    """K2_API_KEY is a required ${K2_API_KEY} reference with no default, and no key value is in compose/."""
    refs = {
        name: env["K2_API_KEY"]
        for name, body in services.items()
        if "K2_API_KEY" in (env := _environment(body))
    }
    assert "k2-api" in refs
    bad = {n: v for n, v in refs.items() if not re.fullmatch(r"\$\{K2_API_KEY(:?\?[^}]*)?\}", str(v))}
    assert bad == {}
    local_key = LOCAL_SECRETS.read_text(encoding="utf-8").split("K2_API_KEY=", 1)[1].split()[0]
    leaks = [
        p.name for p in COMPOSE_DIR.rglob("*") if p.is_file() and local_key in p.read_text(encoding="utf-8")
    ]
    assert leaks == []


def test_compose_v1_validates_the_file() -> None:
    """Debian's docker-compose (v1) validates the file without an engine when K2_API_KEY is set."""
    result = _compose_config(_compose_v1(), "k2-test-key")
    assert (result.returncode, result.stderr) == (0, "")


def test_compose_v1_refuses_to_run_without_k2_api_key() -> None:
    """Without K2_API_KEY, docker-compose (v1) stops and names the missing variable."""
    result = _compose_config(_compose_v1(), None)
    assert result.returncode == 1
    assert "K2_API_KEY must be set in the environment" in result.stderr


def test_compose_v2_validates_the_file() -> None:
    """The Compose v2 plugin (`docker compose`) validates the file without an engine."""
    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.fail(f"docker compose (v2 plugin) not found: {INSTALL_HINT}")
    result = _compose_config([str(docker), "compose"], "k2-test-key")
    assert (result.returncode, result.stderr) == (0, "")
