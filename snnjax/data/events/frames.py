"""Event-to-frame integration, denoising and resizing (NumPy, host side).

Size convention: every ``sensor_size`` / ``size`` argument in this module is ``(W, H)``
(x extent, y extent, as Tonic's ``sensor_size``); frame arrays are ``[T, H, W, 2]`` with the
polarity channel last (channel 0 = OFF, 1 = ON), so ``frames[t, y, x, p]`` counts events.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

SplitBy = Literal["number", "time"]
ResizeMode = Literal["area", "bilinear"]


def _validate(events: np.ndarray, sensor_size: tuple[int, int]) -> None:
    if events.dtype.names is None or not {"t", "x", "y", "p"} <= set(events.dtype.names):
        raise ValueError("events must be a structured array with fields t, x, y, p")
    if events.size == 0:
        return
    w, h = sensor_size
    x, y, p = events["x"], events["y"], events["p"]
    if x.min() < 0 or x.max() >= w or y.min() < 0 or y.max() >= h:
        raise ValueError(
            f"event coordinates x in [{x.min()}, {x.max()}], y in [{y.min()}, {y.max()}] "
            f"exceed sensor_size (W, H) = {tuple(sensor_size)}"
        )
    if p.min() < 0 or p.max() > 1:
        raise ValueError("event polarity must be 0 or 1")


def denoise_events(events: np.ndarray, sensor_size: tuple[int, int], filter_time: float) -> np.ndarray:
    """Drop events without a recent neighbour (vectorised, any polarity).

    An event at ``(x, y, t)`` is kept iff an *earlier* event (earlier in array order) at one of
    its 8 neighbouring pixels (the pixel itself excluded) has ``t - t_neighbour < filter_time``.
    This is the timestamp-memory filter described for Tonic's ``Denoise`` transform (memory
    ``m[x, y] = t + filter_time``, keep if a neighbour's memory exceeds ``t``) but over the
    8-neighbourhood. Returns the kept subset ``[M]`` in the original order.
    """
    _validate(events, sensor_size)
    n = events.size
    if n == 0:
        return events.copy()
    w, h = sensor_size
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    pix = y * w + x
    # Sort by (pixel, index): the last entry below (pixel', i) is the latest event at pixel'
    # preceding event i in array order. Stable sort of small ints is a radix sort in NumPy.
    order = np.argsort(pix.astype(np.uint16) if w * h <= 1 << 16 else pix, kind="stable")
    spix = pix[order]
    keys = spix * n + order
    xs, ys = x[order], y[order]
    ts = events["t"].astype(np.int64)[order]
    keep_sorted = np.zeros(n, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dx == 0 and dy == 0:
                continue
            npix = spix + (dy * w + dx)
            # queries are increasing in this order, which keeps searchsorted cache-friendly
            pos = np.searchsorted(keys, npix * n + order, side="left") - 1
            hit = pos >= 0
            np.maximum(pos, 0, out=pos)
            hit &= spix[pos] == npix
            hit &= (xs + dx >= 0) & (xs + dx < w) & (ys + dy >= 0) & (ys + dy < h)
            hit &= ts - ts[pos] < filter_time
            keep_sorted |= hit
    keep = np.empty(n, dtype=bool)
    keep[order] = keep_sorted
    return events[keep]


def _frame_index(t: np.ndarray, num_frames: int, split_by: SplitBy) -> np.ndarray:
    n = t.size
    if split_by == "number":
        # Balanced split: frame k holds events [k*N//T, (k+1)*N//T), so counts differ by <= 1.
        bounds = (np.arange(num_frames + 1, dtype=np.int64) * n) // num_frames
        return np.repeat(np.arange(num_frames, dtype=np.int64), np.diff(bounds))
    if split_by == "time":
        # T equal windows over [t_first, t_last + 1): every event falls in exactly one window.
        t0 = int(t.min())
        span = int(t.max()) - t0 + 1
        return ((t.astype(np.int64) - t0) * num_frames) // span
    raise ValueError(f"split_by must be 'number' or 'time', got {split_by!r}")


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` weights: mean over each output pixel's footprint (exact overlaps)."""
    scale = n_in / n_out
    edges = np.arange(n_out + 1, dtype=np.float64) * scale
    j = np.arange(n_in, dtype=np.float64)
    lo = np.maximum(edges[:-1, None], j[None, :])
    hi = np.minimum(edges[1:, None], j[None, :] + 1.0)
    return np.clip(hi - lo, 0.0, None) / scale


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` weights of half-pixel bilinear interpolation (no antialiasing)."""
    scale = n_in / n_out
    src = np.maximum((np.arange(n_out) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    m = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - frac)
    np.add.at(m, (rows, i1), frac)
    return m


def resize_frames(frames: np.ndarray, size: tuple[int, int], mode: ResizeMode = "area") -> np.ndarray:
    """Resize count frames ``[..., H, W, C]`` to ``[..., h, w, C]`` float32, ``size = (w, h)``.

    ``"area"`` (default): each output pixel is the mean of the input pixels its footprint
    covers (fractional overlaps weighted exactly, like OpenCV ``INTER_AREA`` when shrinking);
    no event is dropped and ``out.sum() * (H * W) / (h * w) == frames.sum()``.
    ``"bilinear"``: half-pixel bilinear sampling without antialiasing, like PyTorch
    ``F.interpolate(mode='bilinear', align_corners=False)``; when shrinking by more than 2x it
    ignores some input pixels (events), which is why ``"area"`` is the default.
    """
    w_out, h_out = size
    h_in, w_in = frames.shape[-3], frames.shape[-2]
    make = {"area": _area_matrix, "bilinear": _bilinear_matrix}.get(mode)
    if make is None:
        raise ValueError(f"resize mode must be 'area' or 'bilinear', got {mode!r}")
    if (h_in, w_in) == (h_out, w_out):
        return frames.astype(np.float32)
    mh = make(h_in, h_out).astype(np.float32)
    mw = make(w_in, w_out).astype(np.float32)
    f = np.moveaxis(frames.astype(np.float32), -1, -3)  # [..., C, H, W]
    out = mh @ f @ mw.T  # [..., C, h, w]
    return np.ascontiguousarray(np.moveaxis(out, -3, -1))


def events_to_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    num_frames: int,
    split_by: SplitBy = "number",
    *,
    filter_time: float | None = None,
    size: tuple[int, int] | None = None,
    resize_mode: ResizeMode = "area",
) -> np.ndarray:
    """Integrate events into float32 ``[T, H, W, 2]`` per-pixel, per-polarity event counts.

    Args:
      events: ``[N]`` structured events (fields t, x, y, p), in time order.
      sensor_size: ``(W, H)`` of the sensor; coordinates must lie inside it.
      num_frames: ``T``.
      split_by: ``"number"``: T slices of equal event count (counts differ by at most 1;
        SpikingJelly instead gives the ``N mod T`` remainder to the last slice);
        ``"time"``: T equal time windows over ``[t_first, t_last]``.
      filter_time: if set, :func:`denoise_events` with this window (us) first.
      size: optional output ``(w, h)`` (e.g. ``(48, 48)``), see :func:`resize_frames`.
      resize_mode: ``"area"`` or ``"bilinear"``.

    Without denoising/resizing the frames conserve the event count of each polarity exactly.
    """
    if num_frames < 1:
        raise ValueError("num_frames must be >= 1")
    _validate(events, sensor_size)
    if filter_time is not None:
        events = denoise_events(events, sensor_size, filter_time)
    w, h = sensor_size
    counts = np.zeros((num_frames, h, w, 2), dtype=np.int64)
    if events.size:
        fidx = _frame_index(events["t"], num_frames, split_by)
        flat = ((fidx * h + events["y"]) * w + events["x"]) * 2 + events["p"]
        counts = np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    if size is not None and tuple(size) != (w, h):
        return resize_frames(counts, size, resize_mode)
    return counts.astype(np.float32)
