"""Tests of snnjax.data.events.io: hand-built records of each format read back event by event, the
writers of snnjax.data.testing as exact inverses, and one-line errors for malformed or empty files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from snnjax.data import testing
from snnjax.data.events import io
from snnjax.errors import DataError


def events(rows):
    """rows of (t, x, y, p) -> structured events."""
    a = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    return io.make_events(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


def assert_same(got, rows):
    want = events(rows)
    assert got.dtype == io.EVENT_DTYPE and got.size == want.size
    for f in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(got[f], want[f], err_msg=f)


def _nmnist_bytes(rows) -> bytes:
    return b"".join(bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF]) for t, x, y, p in rows)


AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format\r\n"
AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def _aedat3_packet(etype, ovf, events_bytes: list[bytes], size=8) -> bytes:
    n = len(events_bytes)
    return struct.pack("<hhiiiiii", etype, 1, size, 4, ovf, n, n, n) + b"".join(events_bytes)


def _pol(x, y, p, ts, valid=1) -> bytes:
    return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, ts)


def test_nmnist_hand_built_edges(tmp_path):
    rows = [(0, 0, 0, 0), (1, 33, 0, 1), (65_535, 0, 33, 1), (65_536, 17, 5, 0), (2**23 - 2, 33, 33, 0),
            (2**23 - 1, 33, 33, 1)]  # fmt: skip
    f = tmp_path / "a.bin"
    f.write_bytes(_nmnist_bytes(rows))
    assert_same(io.read_nmnist(f), rows)
    assert_same(io.read_events(f), rows)


def test_cifar10_dvs_hand_built_orientations(tmp_path):
    # (raw_x, raw_y, raw_bit0, ts); raw bit0 = 0 is ON in jAER's DVS128 convention.
    raw = [(0, 0, 0, 5), (127, 0, 1, 6), (0, 127, 1, 7), (127, 127, 0, 2**32 - 1), (3, 100, 0, 2)]
    recs = [struct.pack(">II", (ry << 8) | (rx << 1) | rp, ts) for rx, ry, rp, ts in raw]
    special = struct.pack(">II", 0x8000 | (5 << 8), 9)  # external sync event: dropped
    f = tmp_path / "c.aedat"
    f.write_bytes(AEDAT2_HEADER + recs[0] + special + b"".join(recs[1:]))
    ts = [5, 6, 7, 2**32 - 1, 2**32 + 2]  # the last record wraps the 32-bit clock
    pairs = list(zip(raw, ts, strict=True))
    assert_same(io.read_cifar10_dvs(f, orientation="raw"), [(t, rx, ry, rp) for (rx, ry, rp, _), t in pairs])
    assert_same(io.read_cifar10_dvs(f), [(t, 127 - rx, ry, 1 - rp) for (rx, ry, rp, _), t in pairs])
    assert_same(
        io.read_cifar10_dvs(f, orientation="spikingjelly"),
        [(t, 127 - ry, 127 - rx, 1 - rp) for (rx, ry, rp, _), t in pairs],
    )
    assert io.read_events(f).size == 5


def test_dvs_gesture_hand_built_overflow_and_packets(tmp_path):
    p1 = _aedat3_packet(1, 0, [_pol(0, 0, 0, 10), _pol(127, 5, 1, 20), _pol(9, 9, 1, 25, valid=0)])
    special = _aedat3_packet(0, 0, [struct.pack("<Ii", 0x12345, 30)])
    p2 = _aedat3_packet(1, 0, [_pol(1, 127, 1, 2**31 - 1)])
    p3 = _aedat3_packet(1, 1, [_pol(127, 127, 0, 0), _pol(64, 3, 1, 12345)])  # overflow 1
    imu = _aedat3_packet(3, 0, [bytes(60)], size=60)  # other event type: skipped
    f = tmp_path / "user01_led.aedat"
    f.write_bytes(AEDAT3_HEADER + p1 + special + p2 + imu + p3)
    rows = [(10, 0, 0, 0), (20, 127, 5, 1), (2**31 - 1, 1, 127, 1), (2**31, 127, 127, 0),
            (2**31 + 12345, 64, 3, 1)]  # fmt: skip
    assert_same(io.read_dvs_gesture(f), rows)
    assert_same(io.read_events(f), rows)


def test_writers_are_exact_inverses(tmp_path):
    rng = np.random.default_rng(0)
    e = testing.random_events(rng, 5000, 34, 34, t_max=2**23)
    testing.write_nmnist(tmp_path / "n.bin", e)
    assert_same(io.read_nmnist(tmp_path / "n.bin"), np.stack([e[f] for f in "txyp"], 1))
    e = testing.random_events(rng, 5000, 128, 128, t_max=2**33)
    for orient in ("jaer", "raw", "spikingjelly"):
        testing.write_aedat2(tmp_path / "c.aedat", e, orientation=orient)
        assert_same(
            io.read_cifar10_dvs(tmp_path / "c.aedat", orientation=orient), np.stack([e[f] for f in "txyp"], 1)
        )
    testing.write_aedat31(tmp_path / "g.aedat", e, packet_events=700)
    assert_same(io.read_dvs_gesture(tmp_path / "g.aedat"), np.stack([e[f] for f in "txyp"], 1))


def test_gesture_labels(tmp_path):
    csv = tmp_path / "user01_led_labels.csv"
    csv.write_text("class,startTime_usec,endTime_usec\n1,100,200\n11,200,350\n\n")
    np.testing.assert_array_equal(io.read_dvs_gesture_labels(csv), [[0, 100, 200], [10, 200, 350]])


def _check_error(fn, path, fragment):
    with pytest.raises(DataError) as info:
        fn(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg and fragment in msg


def _check_cases(tmp_path, reader, cases):
    for name, (data, fragment) in cases.items():
        f = tmp_path / name
        if data is not None:
            f.write_bytes(data)
        _check_error(reader, f, fragment)


def test_nmnist_malformed(tmp_path):
    good = _nmnist_bytes([(10, 1, 1, 1), (20, 2, 2, 0)])
    _check_cases(tmp_path, io.read_nmnist, {
        "missing.bin": (None, "not found"),
        "empty.bin": (b"", "empty file"),
        "trunc.bin": (good[:-2], "truncated"),
        "range.bin": (_nmnist_bytes([(10, 34, 1, 1)]), "outside"),
        "order.bin": (_nmnist_bytes([(20, 1, 1, 1), (10, 2, 2, 0)]), "decrease"),
    })  # fmt: skip
    assert io.read_nmnist(tmp_path / "order.bin", check_order=False)["t"].tolist() == [20, 10]


def test_aedat2_malformed(tmp_path):
    rec = struct.pack(">II", (3 << 8) | (4 << 1), 10)
    _check_cases(tmp_path, io.read_cifar10_dvs, {
        "trunc.aedat": (AEDAT2_HEADER + rec + rec[:5], "truncated"),
        "magic.aedat": (b"#garbage header\r\n" + rec, "bad magic"),
        "nohdr.aedat": (rec, "bad magic"),
        "ver.aedat": (b"#!AER-DAT3.1\r\n" + rec, "version"),
        "hdr.aedat": (b"#!AER-DAT2.0 without newline", "header"),
        "range.aedat": (AEDAT2_HEADER + struct.pack(">II", 0x00400000, 1), "outside"),
        "order.aedat": (AEDAT2_HEADER + struct.pack(">IIII", 0, 50, 0, 40), "decrease"),
        "header_only.aedat": (AEDAT2_HEADER, "holds no events"),
        "only_special.aedat": (AEDAT2_HEADER + struct.pack(">II", 0x8000, 9), "holds no events"),
        "missing.aedat": (None, "not found"),
    })  # fmt: skip


def test_aedat31_malformed(tmp_path):
    pk = _aedat3_packet(1, 0, [_pol(1, 2, 1, 10), _pol(3, 4, 0, 20)])
    backwards = _aedat3_packet(1, 0, [_pol(1, 2, 1, 30), _pol(3, 4, 0, 20)])
    _check_cases(tmp_path, io.read_dvs_gesture, {
        "trunc_events.aedat": (AEDAT3_HEADER + pk[:-3], "truncated packet"),
        "trunc_header.aedat": (AEDAT3_HEADER + pk + pk[:10], "truncated packet header"),
        "magic.aedat": (b"#!AER-DAT2.0\r\n#!END-HEADER\r\n" + pk, "bad magic"),
        "noend.aedat": (b"#!AER-DAT3.1\r\n#Format: RAW\r\n", "END-HEADER"),
        "range.aedat": (AEDAT3_HEADER + _aedat3_packet(1, 0, [_pol(128, 2, 1, 10)]), "outside"),
        "order.aedat": (AEDAT3_HEADER + backwards, "decrease"),
        "size.aedat": (AEDAT3_HEADER + struct.pack("<hhiiiiii", 1, 1, 0, 4, 0, 1, 1, 1), "corrupt"),
        "no_polarity.aedat": (AEDAT3_HEADER, "holds no polarity events"),
        "missing.aedat": (None, "not found"),
    })  # fmt: skip
    csv = tmp_path / "bad_labels.csv"
    csv.write_text("class,startTime_usec,endTime_usec\n1,100\n")
    _check_error(io.read_dvs_gesture_labels, csv, "line 2")
    _check_error(io.read_events, tmp_path / "x.aedat", "not found")
    (tmp_path / "junk.aedat").write_bytes(b"\x00" * 16)
    _check_error(io.read_events, tmp_path / "junk.aedat", "unknown event file format")
    (tmp_path / "empty.aedat").write_bytes(b"")
    _check_error(io.read_events, tmp_path / "empty.aedat", "empty file")


def test_real_nmnist_sample(real_data):
    path = real_data / "nmnist" / "sample_nmnist.bin"
    e = io.read_nmnist(path)
    assert e.size == 4325 and int(e["p"].sum()) == 2145
    assert e["x"].min() >= 0 and e["x"].max() <= 33 and e["y"].min() >= 0 and e["y"].max() <= 33
    assert e["t"][0] == 654 and e["t"][-1] == 311175 and (np.diff(e["t"]) >= 0).all()
    thirds = np.histogram(e["t"], bins=[0, 100_000, 200_000, 400_000])[0] / e.size
    assert np.all((thirds > 0.25) & (thirds < 0.42)), thirds  # three saccades of ~100 ms
