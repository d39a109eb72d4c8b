"""Is an image blank? One measure shared by the `browser` and `material` checks.

The measure is the share of pixels that have the dominant colour, counting colours within
a small tolerance of it as the same (JPEG noise and anti-aliasing must not make a white page
look busy). An image is blank when that share exceeds BLANK_SHARE, 99.9%: on a 1280x800
screenshot that leaves about 1,000 pixels, a spinner or one short word ("Loading") on an
empty page, which a person still calls an empty page. A page with only a heading and one
line of text ("Throughput", "42 msg/s") measured 99.7%, so it is not blank; a dashboard
with numbers or a chart differs in far more pixels than that.
"""

from __future__ import annotations

from typing import Any

BLANK_SHARE = 0.999
# Colours within this distance per channel count as the dominant colour: JPEG compression of
# a flat page moves values by a few units; real content (text, lines) differs by far more.
TOLERANCE = 12
# Large images are sampled down to about this many pixels (nearest neighbour keeps the exact
# colours): the share barely moves, and a 12-megapixel photo is measured in milliseconds.
MAX_PIXELS = 1_000_000


def one_colour_share(image: Any) -> float:
    """Share (0..1) of the pixels of a Pillow image that have its dominant colour."""
    from PIL import Image

    rgb = image.convert("RGB")
    width, height = rgb.size
    if width * height == 0:
        return 1.0
    if width * height > MAX_PIXELS:
        scale = (MAX_PIXELS / (width * height)) ** 0.5
        rgb = rgb.resize(
            (max(1, int(width * scale)), max(1, int(height * scale))), Image.Resampling.NEAREST
        )
        width, height = rgb.size
    colours: list[tuple[int, tuple[int, int, int]]] = rgb.getcolors(maxcolors=width * height)
    _, dominant = max(colours)
    same = sum(
        count
        for count, colour in colours
        if all(abs(colour[c] - dominant[c]) <= TOLERANCE for c in range(3))
    )
    return float(same / (width * height))


def is_blank(share: float) -> bool:
    return share > BLANK_SHARE


def share_pct(share: float) -> float:
    """The share as a percentage for people, rounded down to 3 decimals so a page with a few
    pixels of content never shows as 100%."""
    return int(share * 100_000) / 1000
