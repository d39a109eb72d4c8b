"""Real headless Chromium and poppler: print HTML to PDF, take screenshots, read pixels.

Chromium and poppler-utils are Debian packages (scripts/ci/install-browser.sh). When they
are missing the tests fail with that hint: a report nobody checked in a browser is not done.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from runbook_engine.plugins._chromium import FLAGS  # one list of the flags that keep Chromium offline

HINT = "run scripts/ci/install-browser.sh"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(f"chromium not found: {HINT}")


def poppler(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise AssertionError(f"{tool} not found (poppler-utils): {HINT}")
    return found


def _chromium(args: list[str], html: Path, profile: Path, out: Path) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, html.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0 and out.is_file(), (
        f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    )
    return elapsed


def print_pdf(html: Path, pdf: Path, profile: Path) -> float:
    """Print to PDF the way a person's browser would (no header/footer); seconds taken."""
    return _chromium(["--no-pdf-header-footer", f"--print-to-pdf={pdf}"], html, profile, pdf)


def screenshot(html: Path, png: Path, profile: Path, width: int = 1200, height: int = 900) -> float:
    return _chromium([f"--screenshot={png}", f"--window-size={width},{height}"], html, profile, png)


def pdf_info(pdf: Path) -> dict[str, str]:
    out = subprocess.run([poppler("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}


def pdf_pages(pdf: Path) -> int:
    return int(pdf_info(pdf)["Pages"])


def page_text(pdf: Path, page: int) -> str:
    return subprocess.run(
        [poppler("pdftotext"), "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@dataclass
class Image:
    width: int
    height: int
    channels: int
    pixels: bytes  # rows of width*channels bytes

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        i = (y * self.width + x) * self.channels
        return tuple(self.pixels[i : i + self.channels])

    def count(self, rgb: tuple[int, int, int], tolerance: int = 8, rows: range | None = None) -> int:
        """Pixels within `tolerance` of a colour, optionally only in some rows."""
        n = 0
        for y in rows or range(self.height):
            for x in range(self.width):
                p = self.pixel(x, y)
                if all(abs(p[c] - rgb[c]) <= tolerance for c in range(3)):
                    n += 1
        return n

    def dark_pixels(self, threshold: int = 200) -> int:
        """Pixels darker than `threshold` in any channel: ink on a page."""
        return sum(
            1 for i in range(0, len(self.pixels), self.channels) if min(self.pixels[i : i + 3]) < threshold
        )


def read_pgm(path: Path) -> Image:
    """A binary PGM (P5) or PPM (P6) file, as pdftoppm writes it."""
    data = path.read_bytes()
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    magic, width, height, _maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    channels = {b"P5": 1, b"P6": 3}[magic]
    pixels = data[pos + 1 : pos + 1 + width * height * channels]
    if channels == 1:  # repeat the grey value so callers read (r, g, b)
        pixels = bytes(b for v in pixels for b in (v, v, v))
    return Image(width, height, 3, pixels)


def pdf_page_images(pdf: Path, out_dir: Path, dpi: int = 30) -> list[Image]:
    """Every page rendered to a grey image (pdftoppm)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [poppler("pdftoppm"), "-gray", "-r", str(dpi), str(pdf), str(out_dir / "page")], check=True
    )
    return [read_pgm(p) for p in sorted(out_dir.glob("page-*.pgm"))]


def read_png(path: Path, max_rows: int | None = None) -> Image:
    """A non-interlaced 8-bit RGB/RGBA PNG (what Chromium writes), without PIL; only the
    first `max_rows` rows when given (pure-Python unfiltering is slow)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), f"unsupported PNG {depth=} {colour=}"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    prev = bytearray(stride)
    height = min(height, max_rows or height)
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = prev[i]
            up_left = prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filt == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + pred) & 0xFF
        out += line
        prev = line
    return Image(width, height, channels, bytes(out))
