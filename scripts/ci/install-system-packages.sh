#!/usr/bin/env bash
# Debian packages the test suite needs, one per line below (tests fail, never skip, without
# them). Idempotent: apt-get runs only when something is missing.
#   prometheus  - tests/support/prometheus.py starts a real server (prometheus.query tests)
set -euo pipefail

packages=(
    prometheus
)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system-packages: all present (${packages[*]})"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -q)  # wait for another apt run instead of failing
echo "install-system-packages: installing ${missing[*]}"
$SUDO apt-get "${apt_opts[@]}" update
$SUDO apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
