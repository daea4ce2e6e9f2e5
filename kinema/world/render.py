"""Draw a scene to frames: anti-aliased signed-distance shapes over world-space backgrounds, vectorised with numpy."""

from __future__ import annotations

import math

import numpy as np

from . import vocab
from .motion import camera_state, shot_frames, track
from .scene import Background, Scene, Shot

OUTLINE_COLOR = np.array((20, 20, 24), dtype=np.float32)


# Signed distances at radius 1, in the object's own frame with y pointing up (shapes from Inigo Quilez's catalogue).
def _sd_circle(x, y):
    return np.hypot(x, y) - 1.0


def _sd_square(x, y):
    dx, dy = np.abs(x) - vocab.SQUARE_HALF, np.abs(y) - vocab.SQUARE_HALF
    return np.hypot(np.maximum(dx, 0), np.maximum(dy, 0)) + np.minimum(np.maximum(dx, dy), 0)


def _sd_triangle(x, y):
    r = vocab.TRIANGLE_R * math.sqrt(3) / 2  # half side
    k = math.sqrt(3.0)
    px, py = np.abs(x) - r, y + r / k
    flip = px + k * py > 0
    px, py = np.where(flip, (px - k * py) / 2, px), np.where(flip, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * r, 0)
    return -np.hypot(px, py) * np.sign(py)


def _sd_star(x, y):
    r, rf = vocab.STAR_OUTER, vocab.STAR_INNER
    k1x, k1y = 0.809016994375, -0.587785252292
    px, py = np.abs(x), y
    d = 2 * np.maximum(k1x * px + k1y * py, 0)
    px, py = px - d * k1x, py - d * k1y
    d = 2 * np.maximum(-k1x * px + k1y * py, 0)
    px, py = px + d * k1x, py - d * k1y
    px, py = np.abs(px), py - r
    bax, bay = rf * -k1y, rf * k1x - 1
    h = np.clip((px * bax + py * bay) / (bax * bax + bay * bay), 0, r)
    return np.hypot(px - bax * h, py - bay * h) * np.sign(py * bax - px * bay)


def _sd_ring(x, y):
    mid, half = (1 + vocab.RING_INNER) / 2, (1 - vocab.RING_INNER) / 2
    return np.abs(np.hypot(x, y) - mid) - half


def _sd_cross(x, y):
    bx, by = vocab.CROSS_HALF, vocab.CROSS_ARM
    ax, ay = np.abs(x), np.abs(y)
    px, py = np.maximum(ax, ay), np.minimum(ax, ay)
    qx, qy = px - bx, py - by
    k = np.maximum(qx, qy)
    wx, wy = np.where(k > 0, qx, by - px), np.where(k > 0, qy, -k)
    return np.sign(k) * np.hypot(np.maximum(wx, 0), np.maximum(wy, 0))


SDF = {
    "circle": _sd_circle,
    "square": _sd_square,
    "triangle": _sd_triangle,
    "star": _sd_star,
    "ring": _sd_ring,
    "cross": _sd_cross,
}


def _rgb(name: str) -> np.ndarray:
    c = vocab.COLORS.get(name) or vocab.BACKGROUND_COLORS.get(name)
    if c is None:
        raise ValueError(f"unknown colour {name!r}")
    return np.array(c, dtype=np.float32)


def _square_wave(s: np.ndarray, px_per_cell: np.ndarray) -> np.ndarray:
    """+1/-1 on alternate cells of `s`, anti-aliased over one pixel."""
    f = s - np.floor(s)
    d = np.minimum(f, 1 - f) * px_per_cell  # pixels to the nearest edge
    parity = np.where(np.floor(s) % 2 == 0, 1.0, -1.0)
    return parity * np.clip(2 * d, 0, 1)


def _background(bg: Background, wx: np.ndarray, wy: np.ndarray, px_per_unit: np.ndarray, span: tuple) -> np.ndarray:
    """Colours (..., 3) of the world points (wx, wy)."""
    c0 = _rgb(bg.colors[0])
    c1 = _rgb(bg.colors[1] if len(bg.colors) > 1 else bg.colors[0])
    th = math.radians(bg.angle)
    if bg.kind == "solid":
        w = np.zeros_like(wx)
    elif bg.kind == "gradient":
        u = wx * math.cos(th) + wy * math.sin(th)
        corners = [a * math.cos(th) + b * math.sin(th) for a in (0, span[0]) for b in (0, span[1])]
        w = np.clip((u - min(corners)) / (max(corners) - min(corners)), 0, 1)
    elif bg.kind == "stripes":
        u = (wx * math.cos(th) + wy * math.sin(th)) / bg.cell
        w = 0.5 - 0.5 * _square_wave(u, px_per_unit * bg.cell)
    elif bg.kind == "checkerboard":
        ppc = px_per_unit * bg.cell
        w = 0.5 - 0.5 * _square_wave(wx / bg.cell, ppc) * _square_wave(wy / bg.cell, ppc)
    elif bg.kind == "floor":
        w = np.clip((wy - bg.floor_y) * px_per_unit + 0.5, 0, 1)
    else:
        raise ValueError(f"unknown background {bg.kind!r}")
    w = w[..., None].astype(np.float32)
    return c0 * (1 - w) + c1 * w


def _draw_shot(scene: Scene, shot: Shot, times: np.ndarray, out: np.ndarray, masks: list | None = None) -> None:
    """Draw one shot into `out` (T, H, W, 3) float32; with `masks`, append each object's coverage (T, H, W) there."""
    n, (h, w) = len(times), out.shape[1:3]
    m = scene.unit
    span = (w / m, h / m)
    cx, cy, zoom = camera_state(shot.camera, scene, shot.duration, times)
    ppu = zoom * m  # pixels per world unit, (T,)
    # Background: pixel centres back to world coordinates.
    jx = (np.arange(w) + 0.5 - w / 2)[None, None, :]
    jy = (np.arange(h) + 0.5 - h / 2)[None, :, None]
    if shot.camera.kind == "static":
        wx, wy = jx[0] / m + cx[0], jy[0] / m + cy[0]
        out[:] = _background(shot.background, wx, wy, np.float32(m), span)[None]
    else:
        k = ppu[:, None, None]
        wx, wy = jx / k + cx[:, None, None], jy / k + cy[:, None, None]
        out[:] = _background(shot.background, wx, wy, k, span)
    # Objects, in order, each inside its own moving box.
    for obj in shot.objects:
        tr = track(obj, shot, times)
        sx = (tr.x - cx) * ppu + w / 2  # screen centre, pixels
        sy = (tr.y - cy) * ppu + h / 2
        rp = tr.radius * ppu  # radius, pixels
        half = int(math.ceil(1.3 * rp.max())) + 2
        size = 2 * half + 1
        x0 = np.floor(sx).astype(int) - half
        y0 = np.floor(sy).astype(int) - half
        g = np.arange(size, dtype=np.float32)
        dx = x0[:, None, None] + g[None, None, :] + 0.5 - sx[:, None, None]
        dy = y0[:, None, None] + g[None, :, None] + 0.5 - sy[:, None, None]
        ca, sa = np.cos(tr.angle)[:, None, None], np.sin(tr.angle)[:, None, None]
        k = rp[:, None, None]
        # Screen (y down) to the shape's frame (y up), undoing a clockwise turn.
        ux = (ca * dx + sa * dy) / k
        uy = (sa * dx - ca * dy) / k
        sd = SDF[obj.shape](ux, uy) * k  # pixels
        alpha = np.clip(0.5 - sd, 0, 1) * tr.visible[:, None, None]
        ring = np.clip(1.7 - sd, 0, 1) * tr.visible[:, None, None] - alpha if obj.outline else None
        colors = np.stack([_rgb(c) for c in tr.color])
        cover = np.zeros((n, h, w), np.float32) if masks is not None else None
        for i in range(n):
            ys, xs = y0[i], x0[i]
            if ys >= h or xs >= w or ys + size <= 0 or xs + size <= 0 or not tr.visible[i]:
                continue
            a0, b0 = max(0, -ys), max(0, -xs)
            a1, b1 = size - max(0, ys + size - h), size - max(0, xs + size - w)
            dst = out[i, ys + a0 : ys + a1, xs + b0 : xs + b1]
            if ring is not None:
                r = ring[i, a0:a1, b0:b1, None]
                dst += r * (OUTLINE_COLOR - dst)
            a = alpha[i, a0:a1, b0:b1, None]
            dst += a * (colors[i] - dst)
            if cover is not None:
                cover[i, ys + a0 : ys + a1, xs + b0 : xs + b1] = a[..., 0]
        if masks is not None:
            masks.append(cover)
    if shot.occluder is not None:
        occ = shot.occluder
        jxs = np.arange(w) + 0.5
        xc = (occ.x - cx) * ppu + w / 2
        hw = occ.width / 2 * ppu
        a = np.clip(0.5 - (np.abs(jxs[None, :] - xc[:, None]) - hw[:, None]), 0, 1)[:, None, :, None]
        out += a * (np.array(vocab.OCCLUDER_COLOR[1], dtype=np.float32) - out)


def render(scene: Scene, masks: bool = False) -> np.ndarray | tuple[np.ndarray, list[np.ndarray]]:
    """Render a scene to uint8 frames (T, H, W, 3). With `masks`, also each object's coverage in [0, 1] (one
    (T, H, W) array per object of each shot, zero outside its shot; drawn as if nothing were in front of it)."""
    if scene.width < 1 or scene.height < 1:
        raise ValueError(f"canvas {scene.width}x{scene.height}: width and height must be at least 1")
    out = np.empty((scene.num_frames, scene.height, scene.width, 3), dtype=np.float32)
    covers: list[np.ndarray] = []
    for shot, (first, times) in zip(scene.shots, shot_frames(scene)):
        if len(times):
            shot_covers: list[np.ndarray] | None = [] if masks else None
            _draw_shot(scene, shot, times, out[first : first + len(times)], shot_covers)
            for c in shot_covers or []:
                full = np.zeros(out.shape[:3], np.float32)
                full[first : first + len(times)] = c
                covers.append(full)
    frames = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return (frames, covers) if masks else frames
