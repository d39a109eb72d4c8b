#!/usr/bin/env bash
# Install what the report and checklist tests need to look at their output for real:
#   - chromium: headless print-to-PDF and screenshots of the HTML report and checklists;
#   - poppler-utils: pdfinfo (page counts), pdftoppm (page images), pdftotext;
#   - fonts-dejavu-core, fonts-liberation: the fonts the report CSS names, so pages
#     lay out the same on every machine;
#   - ffmpeg: ffprobe for the `material` check's videos, and ffmpeg to make a real test video.
# The `browser` check drives this same chromium through Playwright's Python driver.
# Idempotent: installs only what is missing. Run as root (or with sudo available).
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need=()
for pkg in chromium poppler-utils fonts-dejavu-core fonts-liberation ffmpeg; do
    installed "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Other jobs on the machine may hold the dpkg lock for a while: wait instead of failing.
    apt_opts=(-o DPkg::Lock::Timeout=600 -q)
    echo "install-browser: apt installing ${need[*]}"
    $SUDO apt-get "${apt_opts[@]}" update
    $SUDO apt-get "${apt_opts[@]}" install -y "${need[@]}"
fi

echo "install-browser: $(chromium --version 2>/dev/null || echo 'chromium missing')"
echo "install-browser: $(pdfinfo -v 2>&1 | head -1)"
echo "install-browser: $(ffprobe -version 2>/dev/null | head -1 || echo 'ffprobe missing')"
