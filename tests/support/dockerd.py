"""A real Docker engine for the docker.* and compose plugin tests.

One Debian `dockerd` per test session, started without network plumbing (no iptables,
no bridge: containers use the host network), with its data, exec root and unix socket
in a temporary folder, plus a busybox image built from busybox-static and imported as
``runbook-test/busybox:latest`` (no registry is reachable; nothing is ever pulled).

Install what it needs with ``scripts/ci/install-docker.sh`` (root). A test module wraps
it in a session fixture::

    @pytest.fixture(scope="session")
    def docker_engine() -> Iterator[DockerEngine]:
        with shared_engine() as engine:
            yield engine

Each module's session fixture is a separate definition to pytest (all torn down at
the end of the session), so the engine is reference-counted: one dockerd serves them all.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

IMAGE = "runbook-test/busybox:latest"
INSTALL_HINT = "run scripts/ci/install-docker.sh (apt-get install docker.io busybox-static docker-compose)"
READY_TIMEOUT = 30.0
BUSYBOX = Path("/bin/busybox")
APPLETS = (
    "sh",
    "ash",
    "sleep",
    "httpd",
    "wget",
    "echo",
    "cat",
    "ls",
    "mkdir",
    "rm",
    "touch",
    "true",
    "false",
    "kill",
    "ps",
    "date",
    "env",
    "grep",
    "seq",
)


@dataclass
class DockerEngine:
    """A running dockerd: its socket URL, its folder, the test image, its start time."""

    host: str
    root: Path
    started_in_s: float
    image: str = IMAGE
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.host, timeout=30)

    def env(self) -> dict[str, str]:
        """The process environment with DOCKER_HOST pointing at this engine."""
        return {**os.environ, "DOCKER_HOST": self.host}


class _Shared:
    """The one engine of this test process and how many fixture definitions use it."""

    engine: DockerEngine | None = None
    users = 0
    failure: BaseException | None = None  # a start that failed is not tried again


@contextlib.contextmanager
def shared_engine() -> Iterator[DockerEngine]:
    """The test process's Docker engine: started by the first user, stopped by the last."""
    if _Shared.failure is not None:
        raise _Shared.failure
    if _Shared.engine is None:
        try:
            _Shared.engine = _start()
        except BaseException as exc:
            _Shared.failure = exc
            raise
    engine = _Shared.engine
    _Shared.users += 1
    try:
        yield engine
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.engine = None
            _stop(engine)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for httpd inside host-network containers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


def _find(program: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    found = shutil.which(program, path=path)
    if found is None:
        _fail(f"{program} not found: {INSTALL_HINT}")
        raise AssertionError  # unreachable: pytest.fail raises
    return found


def _start() -> DockerEngine:
    dockerd = _find("dockerd")
    for helper in ("containerd", "runc", "docker-init"):
        _find(helper)
    if os.geteuid() != 0:
        _fail("dockerd needs root to run containers; run the docker tests as root")
    if not BUSYBOX.is_file():
        _fail(f"{BUSYBOX} not found: {INSTALL_HINT}")
    # A short folder under /tmp: unix socket paths inside it must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="rbdk-", dir="/tmp"))
    sock = root / "docker.sock"
    log = (root / "dockerd.log").open("wb")
    env = {**os.environ, "PATH": os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])}
    began = time.monotonic()
    proc = subprocess.Popen(
        [
            dockerd,
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "dockerd.pid"),
            "-H",
            f"unix://{sock}",
            # No network plumbing: this machine (and CI) may lack iptables rights and
            # bridges; containers run with network_mode host instead.
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--ip-masq=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    log.close()
    engine = DockerEngine(host=f"unix://{sock}", root=root, started_in_s=0.0, proc=proc)
    try:
        _await_ping(proc, sock, root)
        engine.started_in_s = round(time.monotonic() - began, 3)
        _import_image(engine)
    except BaseException:
        _stop(engine)
        raise
    return engine


def _log_tail(root: Path, lines: int = 15) -> str:
    try:
        text = (root / "dockerd.log").read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return s.recv(64).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
    except OSError:
        return False


def _await_ping(proc: subprocess.Popen[bytes], sock: Path, root: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _fail(f"dockerd exited with {proc.returncode} while starting; its log:\n{_log_tail(root)}")
        if sock.exists() and _ping(sock):
            return
        time.sleep(0.05)
    _fail(f"dockerd did not answer on {sock} within {READY_TIMEOUT:g}s; its log:\n{_log_tail(root)}")


def _busybox_rootfs() -> bytes:
    """A tarball of a root filesystem holding only a static busybox and its applet links."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder, mode in (("bin", 0o755), ("tmp", 0o1777), ("www", 0o755)):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        page = b"ok\n"
        info = tarfile.TarInfo("www/index.html")
        info.size, info.mode = len(page), 0o644
        tar.addfile(info, io.BytesIO(page))
    return buf.getvalue()


def _import_image(engine: DockerEngine) -> None:
    repository, tag = IMAGE.rsplit(":", 1)
    client = engine.client()
    try:
        client.api.import_image_from_data(
            _busybox_rootfs(),
            repository=repository,
            tag=tag,
            changes=['CMD ["/bin/sh"]', "ENV PATH=/bin"],
        )
        client.images.get(IMAGE)  # fails loudly if the import did not produce the tag
    finally:
        client.close()


def _stop(engine: DockerEngine) -> None:
    """Remove every container, stop dockerd by PID, undo its mounts, delete its folder."""
    proc = engine.proc
    if proc is not None and proc.poll() is None:
        with contextlib.suppress(Exception):
            client = engine.client()
            try:
                for container in client.containers.list(all=True):
                    with contextlib.suppress(Exception):
                        container.remove(force=True, v=True)
            finally:
                client.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc is not None:
        # dockerd's own containerd shares its process group; end whatever of it remains.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    _unmount_under(engine.root)
    shutil.rmtree(engine.root, ignore_errors=True)


def _unmount_under(root: Path) -> None:
    """Leftover mounts below the engine's folder (the nsfs of its default netns, overlays)."""
    prefix = str(root) + "/"
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


# --- Compose projects for the compose.* tests -------------------------------------------

COMPOSE_V2 = ("docker", "compose")
COMPOSE_V1 = ("docker-compose",)


def http_service(port: int, interval: str = "250ms") -> dict[str, Any]:
    """A compose service running busybox httpd with a healthcheck that fetches its page."""
    return {
        "image": IMAGE,
        "network_mode": "host",
        "init": True,
        "command": ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O-", f"http://127.0.0.1:{port}/"],
            "interval": interval,
            "timeout": "2s",
            "retries": 3,
        },
    }


def sleep_service(**extra: Any) -> dict[str, Any]:
    """A compose service that just sleeps (init forwards SIGTERM, so it stops at once)."""
    return {"image": IMAGE, "network_mode": "host", "init": True, "command": ["sleep", "3600"], **extra}


def write_compose(folder: Path, services: dict[str, Any], volumes: tuple[str, ...] = ()) -> Path:
    """Write docker-compose.yml (Compose Specification, no version key) into `folder`."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"services": services}
    if volumes:
        doc["volumes"] = {name: {} for name in volumes}
    path = folder / "docker-compose.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def compose_cli(
    engine: DockerEngine, file: Path, project: str, *args: str, tool: tuple[str, ...] = COMPOSE_V2
) -> subprocess.CompletedProcess[str]:
    """Run a compose CLI directly against the test engine; a failure fails the test."""
    argv = [*tool, "-f", str(file), "-p", project, *args]
    try:
        done = subprocess.run(
            argv,
            env=engine.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        pytest.fail(f"{tool[0]} not found: {INSTALL_HINT}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}\n"
            f"(both compose CLIs are installed by scripts/ci/install-docker.sh)",
            pytrace=False,
        )
    return done


def remove_project(engine: DockerEngine, project: str) -> None:
    """Force-remove a project's containers and volumes (fast; no 10 s stop timeout)."""
    label = f"com.docker.compose.project={project}"
    client = engine.client()
    try:
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True, v=True)
        for volume in client.volumes.list(filters={"label": label}):
            volume.remove(force=True)
    finally:
        client.close()
