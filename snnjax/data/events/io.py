"""Readers of neuromorphic event files (N-MNIST, CIFAR10-DVS, DVS128 Gesture); :mod:`snnjax.data.testing`
writes the same formats.

Every reader returns ``[N]`` :data:`EVENT_DTYPE` events in file order and raises
:class:`~snnjax.errors.DataError` (one line: ``"<file>: <problem>"``) for missing, empty, truncated or
malformed files. Decoding is vectorised; only AEDAT 3.1 packet headers are walked in Python. Each reader's
docstring describes its format.
"""

from __future__ import annotations

import os
import struct
from typing import Literal

import numpy as np
from etils import epath

from snnjax.errors import DataError

PathLike = str | os.PathLike

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])
"""Structured event dtype: t int64 (us), x int16, y int16, p int8 (0 OFF / 1 ON)."""

NMNIST_SENSOR_SIZE = (34, 34)
"""(W, H) of the N-MNIST (ATIS crop) sensor."""

DVS128_SENSOR_SIZE = (128, 128)
"""(W, H) of the DVS128 sensor (CIFAR10-DVS, DVS128 Gesture)."""

Orientation = Literal["jaer", "raw", "spikingjelly"]
ORIENTATIONS = {
    "jaer": lambda x, y, p: (127 - x, y, 1 - p),
    "spikingjelly": lambda x, y, p: (127 - y, 127 - x, 1 - p),
    "raw": lambda x, y, p: (x, y, p),
}
"""DVS128 raw address fields ``(x, y, p)`` -> event fields, per orientation; each map is its own inverse."""

AEDAT31_HEADER = struct.Struct("<hhiiiiii")  # 28 bytes
AEDAT31_POLARITY = 1


def _fail(path: PathLike, problem: str) -> DataError:
    return DataError(f"{os.fspath(path)}: {problem}")


def _read_bytes(path: PathLike) -> bytes:
    try:
        data = epath.Path(path).read_bytes()
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not an event file") from None
    except OSError as e:
        raise _fail(path, f"cannot read file ({e.strerror or e})") from None
    if not data:
        raise _fail(path, "empty file (0 bytes): no events")
    return data


def make_events(t, x, y, p) -> np.ndarray:
    """Pack 1-D arrays into a structured ``[N]`` array of :data:`EVENT_DTYPE`."""
    ev = np.empty(len(t), dtype=EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


def _checked_events(path: PathLike, t, x, y, p, check_order: bool) -> np.ndarray:
    """The decoded fields as events; none at all, or (``check_order``) a decreasing timestamp, raise."""
    if t.size == 0:
        raise _fail(path, "holds no events")
    back = np.flatnonzero(np.diff(t) < 0) if check_order else []
    if len(back):
        i = int(back[0])
        problem = f"timestamps decrease at event {i + 1} ({int(t[i])} -> {int(t[i + 1])} us)"
        raise _fail(path, f"{problem}; pass check_order=False to read anyway")
    return make_events(t, x, y, p)


def _check_range(path: PathLike, x: np.ndarray, y: np.ndarray, sensor_size) -> None:
    w, h = sensor_size
    bad = (x >= w) | (y >= h)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(path, f"event {i} at (x={int(x[i])}, y={int(y[i])}) is outside the {w}x{h} sensor")


# ----------------------------------------------------------------------------- N-MNIST


def read_nmnist(
    path: PathLike, *, sensor_size: tuple[int, int] = NMNIST_SENSOR_SIZE, check_order: bool = True
) -> np.ndarray:
    """Read an N-MNIST ``.bin`` file -> ``[N]`` :data:`EVENT_DTYPE` array.

    5 bytes per event (Orchard et al. 2015): ``x`` (byte 0), ``y`` (byte 1), polarity = MSB of byte 2,
    timestamp (us) = low 23 bits of bytes 2-4 (big-endian).

    ``sensor_size`` is ``(W, H)``; coordinates outside it raise :class:`~snnjax.errors.DataError`
    (use ``(240, 180)`` for N-Caltech101 files, which share the format).
    """
    buf = _read_bytes(path)
    if len(buf) % 5:
        raise _fail(path, f"truncated record: {len(buf)} bytes is not a multiple of the 5-byte N-MNIST event")
    b = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 5)
    x, y = b[:, 0], b[:, 1]
    _check_range(path, x, y, sensor_size)
    t = ((b[:, 2].astype(np.int64) & 0x7F) << 16) | (b[:, 3].astype(np.int64) << 8) | b[:, 4]
    return _checked_events(path, t, x, y, b[:, 2] >> 7, check_order)


# ----------------------------------------------------------------------------- AEDAT 2.0


def _split_header(path: PathLike, buf: bytes) -> tuple[list[bytes], int]:
    """Return the ``#`` header lines and the offset of the first binary byte."""
    lines: list[bytes] = []
    pos = 0
    while pos < len(buf) and buf[pos] == 0x23:  # '#'
        nl = buf.find(b"\n", pos)
        if nl < 0:
            raise _fail(path, "header line not terminated (file truncated inside the header)")
        lines.append(buf[pos:nl].rstrip(b"\r"))
        pos = nl + 1
        if lines[-1] == b"#!END-HEADER":  # AEDAT 3.x: binary data may start with '#'
            break
    return lines, pos


def read_cifar10_dvs(
    path: PathLike, *, orientation: Orientation = "jaer", check_order: bool = True
) -> np.ndarray:
    """Read a CIFAR10-DVS AEDAT 2.0 file (DVS128) -> ``[N]`` :data:`EVENT_DTYPE` array.

    AEDAT 2.0 (jAER): ``#`` header lines (the first ``#!AER-DAT2.0``), then big-endian records of uint32
    address + uint32 timestamp (us). Address bits as in jAER's ``DVS128.Extractor``: bit 0 = raw polarity
    (0 = ON), bits 1-7 = raw x, bits 8-14 = y; bit 15 (external sync) or 31 mark special events (dropped).

    ``orientation`` (:data:`ORIENTATIONS`): ``"jaer"`` (default) as jAER and the dataset's ``dat2mat.m``
    show it (``x = 127 - raw_x``, ``p = 1 - raw_bit0``); ``"spikingjelly"`` also
    transposed, as SpikingJelly's and Tonic's loaders return it; ``"raw"`` the address bits unchanged.
    Non-zero address bits 16-30 (not a DVS128 recording) raise :class:`~snnjax.errors.DataError`; 32-bit
    timestamp wrap-arounds are unwrapped to int64.
    """
    buf = _read_bytes(path)
    lines, start = _split_header(path, buf)
    if not lines or not lines[0].startswith(b"#!AER-DAT"):
        raise _fail(path, "bad magic: expected an AEDAT header starting with '#!AER-DAT'")
    version = lines[0][len(b"#!AER-DAT") :].strip().decode(errors="replace")
    if version != "2.0":
        raise _fail(path, f"unsupported AEDAT version {version!r} (CIFAR10-DVS files are AEDAT 2.0)")
    nbytes = len(buf) - start
    if nbytes % 8:
        raise _fail(path, f"truncated record: {nbytes} data bytes is not a multiple of 8")
    rec = np.frombuffer(buf, dtype=">u4", offset=start).reshape(-1, 2)
    addr = rec[:, 0]
    keep = (addr & np.uint32(0x80008000)) == 0  # drops special events
    addr, ts = addr[keep], rec[keep, 1]
    outside = np.flatnonzero(addr & np.uint32(0x7FFF0000))
    if outside.size:
        i = int(outside[0])
        problem = f"address 0x{int(addr[i]):08x} of event {i} is outside the DVS128 128x128 range"
        raise _fail(path, f"{problem} (not a DVS128 recording?)")
    if orientation not in ORIENTATIONS:
        raise ValueError(f"unknown orientation {orientation!r}")
    a = addr.astype(np.int32)
    x, y, p = ORIENTATIONS[orientation]((a >> 1) & 0x7F, (a >> 8) & 0x7F, a & 1)
    t = ts.astype(np.int64)
    t[1:] += np.cumsum(np.diff(t) < -(1 << 31), dtype=np.int64) << 32  # unwraps 32-bit timestamps
    return _checked_events(path, t, x, y, p, check_order)


# ----------------------------------------------------------------------------- AEDAT 3.1


def read_dvs_gesture(path: PathLike, *, check_order: bool = True) -> np.ndarray:
    """Read a DVS128 Gesture AEDAT 3.1 recording -> ``[N]`` :data:`EVENT_DTYPE` array.

    AEDAT 3.1 (cAER): a text header ending with ``#!END-HEADER``, then packets of a 28-byte little-endian
    header (eventType, eventSource: int16; eventSize, eventTSOffset, eventTSOverflow, eventCapacity,
    eventNumber, eventValid: int32) and ``eventNumber * eventSize`` bytes. Polarity events (type 1, 8 bytes):
    uint32 data (bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31 x) + int32 timestamp; the time is
    ``(eventTSOverflow << 31) | timestamp``. Other packet types and invalid events are skipped; coordinates
    are returned as stored.
    """
    buf = _read_bytes(path)
    if not buf.startswith(b"#!AER-DAT3"):
        raise _fail(path, "bad magic: expected an AEDAT 3.x header starting with '#!AER-DAT3'")
    lines, pos = _split_header(path, buf)
    if lines[-1].strip() != b"#!END-HEADER":
        raise _fail(path, "header has no '#!END-HEADER' line (file truncated or not AEDAT 3.1)")
    n, hsize = len(buf), AEDAT31_HEADER.size
    chunks: list[tuple[int, int, int]] = []  # (byte offset, number of events, overflow)
    while pos < n:
        if pos + hsize > n:
            raise _fail(path, f"truncated packet header at byte {pos} ({n - pos} of {hsize} bytes)")
        etype, _src, esize, tsoff, tsovf, _cap, enum, _valid = AEDAT31_HEADER.unpack_from(buf, pos)
        at, pos = f"at byte {pos}", pos + hsize
        if esize <= 0 or enum < 0:
            raise _fail(path, f"corrupt packet header {at} (eventSize={esize}, eventNumber={enum})")
        if pos + esize * enum > n:
            raise _fail(
                path, f"truncated packet {at}: {enum} events of {esize} bytes declared, {n - pos} bytes left"
            )
        if etype == AEDAT31_POLARITY and (esize != 8 or tsoff != 4):
            raise _fail(
                path, f"polarity packet {at} has eventSize={esize}, eventTSOffset={tsoff} (expected 8, 4)"
            )
        if etype == AEDAT31_POLARITY and enum:
            chunks.append((pos, enum, tsovf))
        pos += esize * enum
    if not chunks:
        raise _fail(path, "holds no polarity events")
    raw = np.frombuffer(buf, dtype=np.uint8)
    words = np.concatenate([raw[off : off + 8 * cnt] for off, cnt, _ in chunks]).view("<u4")
    ovf = np.repeat(np.array([c[2] for c in chunks], np.int64), [c[1] for c in chunks])
    valid = (words[0::2] & 1).astype(bool)
    data, ts, ovf = words[0::2][valid], words[1::2].view("<i4").astype(np.int64)[valid], ovf[valid]
    if (ts < 0).any():
        raise _fail(path, f"negative timestamp {int(ts.min())} in a polarity packet")
    t = (ovf << 31) | ts
    x = (data >> 17).astype(np.int32)
    y = ((data >> 2) & 0x7FFF).astype(np.int32)
    _check_range(path, x, y, DVS128_SENSOR_SIZE)
    return _checked_events(path, t, x, y, (data >> 1) & 1, check_order)


def read_dvs_gesture_labels(path: PathLike) -> np.ndarray:
    """Read a DVS128 Gesture ``*_labels.csv`` -> int64 ``[S, 3]`` of (label 0..10, t_start, t_end).

    The CSV has a header line ``class,startTime_usec,endTime_usec``; classes 1..11 in the file
    become labels 0..10.
    """
    try:
        text = epath.Path(path).read_text()
    except FileNotFoundError:
        raise _fail(path, "label file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _fail(path, f"cannot read label file ({e})") from None
    rows = []
    for k, line in enumerate(text.splitlines()):
        line = line.strip()
        if not line or (k == 0 and not line[0].isdigit()):
            continue
        try:
            c, a, b = map(int, line.split(","))
        except ValueError:
            raise _fail(
                path, f"line {k + 1}: expected 'class,startTime_usec,endTime_usec', got {line[:60]!r}"
            ) from None
        if not 1 <= c <= 11 or b <= a:
            raise _fail(path, f"line {k + 1}: invalid label row {line!r}")
        rows.append((c - 1, a, b))
    if not rows:
        raise _fail(path, "label file has no label rows")
    return np.asarray(rows, dtype=np.int64)


# ----------------------------------------------------------------------------- dispatch


def read_events(path: PathLike, **kwargs) -> np.ndarray:
    """Read any supported file, choosing the reader from its header (AEDAT) or ``.bin`` suffix."""
    p = epath.Path(path)
    if p.suffix.lower() == ".bin":
        return read_nmnist(p, **kwargs)
    head = _read_bytes(p)[:16]  # raises the reader's one-line errors for missing / empty files
    if head.startswith(b"#!AER-DAT3"):
        return read_dvs_gesture(p, **kwargs)
    if head.startswith(b"#!AER-DAT2"):
        return read_cifar10_dvs(p, **kwargs)
    raise _fail(p, "unknown event file format (expected N-MNIST .bin or AEDAT 2.0/3.1)")
