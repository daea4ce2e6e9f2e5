"""The world's vocabulary: named colours, shapes, sizes, speeds and directions.

This is the shared language of captions and claims. The renderer draws these words and the judge reads them back
from pixels; neither needs the other's code.
"""

from __future__ import annotations

import math

# Object colours: saturated and far apart in hue, so a pixel's hue names its object.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "orange": (245, 135, 15),
    "yellow": (235, 215, 20),
    "green": (30, 175, 50),
    "cyan": (20, 195, 215),
    "blue": (35, 75, 230),
    "purple": (135, 45, 215),
    "magenta": (225, 40, 165),
}

# Backgrounds and occluders: low chroma (max - min < 25), so they never read as an object colour.
BACKGROUND_COLORS: dict[str, tuple[int, int, int]] = {
    "white": (236, 236, 232),
    "light gray": (190, 190, 186),
    "gray": (128, 128, 128),
    "dark gray": (62, 62, 66),
    "charcoal": (28, 30, 34),
    "beige": (214, 206, 192),
    "slate": (84, 92, 104),
    "sand": (178, 168, 152),
}
OCCLUDER_COLOR = ("brown-gray", (96, 86, 80))

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross")
# Shapes that look different when turned (a turning circle or ring shows nothing).
ROTATABLE_SHAPES = ("square", "triangle", "star", "cross")
# Shape geometry in units of the object's radius r: each shape fits in a circle of radius ~r.
SQUARE_HALF = 0.82
TRIANGLE_R = 1.12  # circumradius; the triangle points up
STAR_OUTER, STAR_INNER = 1.18, 0.5  # inner radius as a fraction of the outer
RING_INNER = 0.56
CROSS_HALF, CROSS_ARM = 0.98, 0.3  # half-length and half-width of each bar
# Area of each shape at r = 1 (used to read a radius back from an area).
SHAPE_AREA: dict[str, float] = {
    "circle": math.pi,
    "square": (2 * SQUARE_HALF) ** 2,
    "triangle": 3 * math.sqrt(3) / 4 * TRIANGLE_R**2,
    "star": 5 * STAR_OUTER**2 * STAR_INNER * math.sin(math.pi / 5),
    "ring": math.pi * (1 - RING_INNER**2),
    "cross": 2 * (2 * CROSS_HALF) * (2 * CROSS_ARM) - (2 * CROSS_ARM) ** 2,
}
# Distance from an upright shape's centre to its lowest point, at r = 1 (where it touches a floor).
SHAPE_BOTTOM: dict[str, float] = {
    "circle": 1.0,
    "square": SQUARE_HALF,
    "triangle": TRIANGLE_R / 2,
    "star": STAR_OUTER * math.cos(math.pi / 5),
    "ring": 1.0,
    "cross": CROSS_HALF,
}
# Half width of an upright shape at r = 1 (where two shapes touch side by side).
SHAPE_HALF_WIDTH: dict[str, float] = {
    "circle": 1.0,
    "square": SQUARE_HALF,
    "triangle": TRIANGLE_R * math.sqrt(3) / 2,
    "star": STAR_OUTER * math.sin(2 * math.pi / 5),
    "ring": 1.0,
    "cross": CROSS_HALF,
}

# Sizes: object radius as a fraction of the canvas's shorter side.
SIZES: dict[str, float] = {"small": 0.075, "medium": 0.105, "large": 0.145}
# Linear speeds in shorter-sides per second.
SPEEDS: dict[str, float] = {"slow": 0.12, "medium": 0.24, "fast": 0.44}

# Screen directions; y grows downwards as in an image.
DIRECTIONS: dict[str, tuple[float, float]] = {
    "right": (1.0, 0.0),
    "left": (-1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up-right": (math.sqrt(0.5), -math.sqrt(0.5)),
    "up-left": (-math.sqrt(0.5), -math.sqrt(0.5)),
    "down-right": (math.sqrt(0.5), math.sqrt(0.5)),
    "down-left": (-math.sqrt(0.5), math.sqrt(0.5)),
}
SPINS = ("clockwise", "counterclockwise")
CAMERA_PANS = ("left", "right", "up", "down")
CAMERA_ZOOMS = ("in", "out")
ZOOM_FACTOR = 1.5  # a zoom in ends 1.5x closer over its shot; a zoom out ends 1.5x farther
GROW_FACTOR, SHRINK_FACTOR = 1.6, 0.6  # size at the end of a grow or shrink, relative to the start
BACKGROUND_KINDS = ("solid", "gradient", "stripes", "checkerboard", "floor")
LEVELS = (1, 2, 3, 4)


def size_class(radius: float) -> str:
    """Name the size class of a radius (fraction of the shorter side), splitting at geometric means."""
    names = list(SIZES)
    values = [SIZES[n] for n in names]
    for i in range(len(values) - 1):
        if radius < math.sqrt(values[i] * values[i + 1]):
            return names[i]
    return names[-1]


def speed_class(speed: float) -> str:
    """Name the speed class of a speed (shorter sides per second)."""
    names = list(SPEEDS)
    values = [SPEEDS[n] for n in names]
    for i in range(len(values) - 1):
        if speed < math.sqrt(values[i] * values[i + 1]):
            return names[i]
    return names[-1]


def region_name(x: float, y: float, span_x: float, span_y: float, margin: float = 0.06) -> str | None:
    """Name where a point lies in a view spanning [0, span_x] x [0, span_y] on a 3x3 grid ("upper left", "center",
    "lower middle" reads as "bottom"...), or None when it lies within `margin` of a grid line (ambiguous)."""
    cols = _third(x, span_x, margin)
    rows = _third(y, span_y, margin)
    if cols is None or rows is None:
        return None
    col = ("left", "center", "right")[cols]
    row = ("upper", "middle", "lower")[rows]
    if row == "middle":
        return "center" if col == "center" else f"{col} side"
    if col == "center":
        return "top" if row == "upper" else "bottom"
    return f"{row} {col}"


REGIONS = (
    "upper left",
    "top",
    "upper right",
    "left side",
    "center",
    "right side",
    "lower left",
    "bottom",
    "lower right",
)


def region_bounds(name: str, span_x: float, span_y: float) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of a named region."""
    i = REGIONS.index(name)
    r, c = divmod(i, 3)
    return (c * span_x / 3, (c + 1) * span_x / 3, r * span_y / 3, (r + 1) * span_y / 3)


def _third(v: float, span: float, margin: float) -> int | None:
    k = int(min(2, max(0, v // (span / 3))))
    for line in (span / 3, 2 * span / 3):
        if abs(v - line) < margin:
            return None
    return k
