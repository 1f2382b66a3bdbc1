"""Tests of snnjax.data.transforms: exact small-array results and determinism given the generator."""

import numpy as np
import pytest

from snnjax.data import transforms as T


def _image_batch(n=1, h=3, w=3, c=1):
    return np.arange(1, n * h * w * c + 1, dtype=np.uint8).reshape(n, h, w, c)


def test_crop_exact():
    x = _image_batch()  # [[1,2,3],[4,5,6],[7,8,9]]
    crop = lambda offsets: T.flip_roll_crop(x, offsets=np.array([offsets]), pad=1)[0, ..., 0]
    np.testing.assert_array_equal(crop([0, 0]), [[0, 0, 0], [0, 1, 2], [0, 4, 5]])
    np.testing.assert_array_equal(crop([1, 1]), x[0, ..., 0])
    np.testing.assert_array_equal(crop([2, 1]), [[4, 5, 6], [7, 8, 9], [0, 0, 0]])
    assert T.flip_roll_crop(x, offsets=np.array([[0, 0]])).tolist() == x.tolist()  # pad 0: no crop


def test_flip_exact_and_crop_then_flip_is_flip_then_mirrored_crop():
    x = _image_batch(n=2)
    out = T.flip_roll_crop(x, flips=np.array([True, False]))
    np.testing.assert_array_equal(out[0, ..., 0], [[3, 2, 1], [6, 5, 4], [9, 8, 7]])
    np.testing.assert_array_equal(out[1], x[1])
    images = np.random.default_rng(1).integers(1, 256, (16, 8, 8, 3), dtype=np.uint8)
    offsets = np.random.default_rng(0).integers(0, 5, (16, 2))
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    mirrored = offsets.copy()
    mirrored[:, 1] = 4 - offsets[:, 1]
    got = T.flip_roll_crop(images, flips=np.ones(16, bool), offsets=mirrored, pad=2)
    for i, (dy, dx) in enumerate(offsets):
        np.testing.assert_array_equal(got[i], padded[i, dy : dy + 8, dx : dx + 8][:, ::-1])


def test_flip_roll_crop_equals_per_sample_ops_on_frames():
    rng = np.random.default_rng(9)
    frames = rng.random((6, 3, 9, 7, 2)).astype(np.float32)  # [N, T, H, W, C]: one transform for all T
    flips = np.array([0, 1, 0, 1, 1, 0], bool)
    shifts = rng.integers(-4, 5, size=(6, 2))
    offsets = rng.integers(0, 7, size=(6, 2))
    got = T.flip_roll_crop(frames, flips=flips, shifts=shifts, offsets=offsets, pad=3)
    assert got.shape == frames.shape and got.dtype == frames.dtype
    for i in range(6):
        want = frames[i][:, :, ::-1] if flips[i] else frames[i]
        want = np.pad(np.roll(want, tuple(shifts[i]), axis=(1, 2)), [(0, 0), (3, 3), (3, 3), (0, 0)])
        oy, ox = offsets[i]
        np.testing.assert_array_equal(got[i], want[:, oy : oy + 9, ox : ox + 7])
    only_roll = T.flip_roll_crop(frames, shifts=shifts)
    np.testing.assert_array_equal(only_roll[2], np.roll(frames[2], tuple(shifts[2]), axis=(1, 2)))
    np.testing.assert_array_equal(T.flip_roll_crop(frames), frames)


def test_normalize_exact():
    x = np.array([[[[0, 255, 51]]]], dtype=np.uint8)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
    out = T.normalize(x, mean, std)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, 0], (np.array([0.0, 1.0, 0.2]) - mean) / np.array(std), rtol=1e-5)
    np.testing.assert_allclose(T.normalize(x)[0, 0, 0], [0.0, 1.0, 0.2], rtol=1e-6)
    gray = T.normalize(np.full((1, 2, 2, 1), 255, np.uint8), (0.1307,), (0.3081,))
    np.testing.assert_allclose(gray, (1.0 - 0.1307) / 0.3081, rtol=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_keeps_shape_dtype(channels):
    image = np.random.default_rng(0).integers(0, 256, (12, 10, channels), dtype=np.uint8)
    for name in T.OPS:
        for severity in (0.0, 0.5, 1.0):
            out = T.apply_op(image, name, severity, np.random.default_rng(1))
            assert out.shape == image.shape and out.dtype == np.uint8, name


def test_ops_at_zero_severity_are_identity():
    image = np.random.default_rng(0).integers(0, 256, (9, 9, 3), dtype=np.uint8)
    for name in ("identity", "rotate", "solarize", "posterize", "color", "contrast", "brightness",
                 "sharpness", "shear_x", "shear_y", "translate_x", "translate_y"):  # fmt: skip
        out = T.apply_op(image, name, 0.0, np.random.default_rng(0))
        np.testing.assert_array_equal(out, image, err_msg=name)


def test_ops_exact_values():
    image = np.array([[[0], [100], [200], [255]]], dtype=np.uint8)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(T.apply_op(image, "invert", 0, rng)[..., 0], [[255, 155, 55, 0]])
    # severity 1/2: threshold 128, pixels >= 128 inverted
    np.testing.assert_array_equal(T.apply_op(image, "solarize", 0.5, rng)[..., 0], [[0, 100, 55, 0]])
    # severity 1: 4 bits kept
    np.testing.assert_array_equal(T.apply_op(image, "posterize", 1.0, rng)[..., 0], [[0, 96, 192, 240]])
    shifted = T.apply_op(np.arange(16, dtype=np.uint8).reshape(4, 4, 1), "translate_x", 1.0, rng)
    assert (shifted == 0).sum() > 1  # content moved, filled with zeros


@pytest.mark.parametrize(
    "augment", [T.AutoAugment("cifar10"), T.RandAugment.from_string("rand-m9-n2-mstd0.5")]
)
def test_auto_and_rand_augment_deterministic(augment):
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    seeds = np.arange(16)
    a = T.apply_per_image(images, seeds, augment)
    b = T.apply_per_image(images, seeds, augment)
    c = T.apply_per_image(images, seeds + 100, augment)
    assert a.shape == images.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, images)
    gray = images[..., :1]
    assert augment(gray[0], np.random.default_rng(0)).shape == (32, 32, 1)


def test_randaugment_spec_parsing():
    ra = T.RandAugment.from_string("rand-m7-n1-mstd0.5")
    assert (ra.magnitude, ra.num_ops, ra.magnitude_std, ra.max_magnitude) == (7.0, 1, 0.5, 10.0)
    ra = T.RandAugment.from_string("rand-m9-n2-mstd0.5-inc1-p1.0")
    assert (ra.num_ops, ra.prob) == (2, 1.0)
    for bad in ("m7-n1", "rand-x3", "rand-m"):
        with pytest.raises(ValueError):
            T.RandAugment.from_string(bad)
    with pytest.raises(ValueError):
        T.AutoAugment("svhn")


def test_randaugment_magnitude_noise():
    ra = T.RandAugment(magnitude=7, magnitude_std=0.5)
    rng = np.random.default_rng(0)
    sev = np.array([ra._severity(rng) for _ in range(500)])
    assert abs(sev.mean() - 0.7) < 0.01 and 0.03 < sev.std() < 0.07
    assert T.RandAugment(magnitude=7)._severity(rng) == pytest.approx(0.7)


def test_cifar10_policy_table():
    assert len(T.CIFAR10_POLICY) == 25
    for sub in T.CIFAR10_POLICY:
        for name, prob, magnitude in sub:
            assert name in T.OPS and 0 <= prob <= 1 and 0 <= magnitude <= 9


def test_imagenet_crops():
    image = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    a = T.random_resized_crop(image, np.random.default_rng(5), size=224)
    b = T.random_resized_crop(image, np.random.default_rng(5), size=224)
    assert a.shape == (224, 224, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    for seed in range(20):
        top, left, h, w = T.sample_resized_crop_box(np.random.default_rng(seed), 300, 400)
        assert top >= 0 and top + h <= 300 and left >= 0 and left + w <= 400
        assert 0.08 * 300 * 400 * 0.9 <= h * w <= 300 * 400
    centre = T.resize_center_crop(image, size=224)
    assert centre.shape == (224, 224, 3)
    # a constant image stays constant; the centre of a two-tone image is taken
    half = np.zeros((256, 512, 3), np.uint8)
    half[:, 256:] = 255
    out = T.resize_center_crop(half, size=224)  # resized to 256 x 512, crop columns 144..367
    assert out[:, :100].max() == 0 and out[:, 124:].min() == 255


def test_rotate_nearest_exact_quarter_turns_and_zero_fill():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)  # [[1,2,3],[4,5,6],[7,8,9]]
    np.testing.assert_array_equal(T.rotate_nearest(x, 0.0), x)
    # counter-clockwise on screen (y down): the top row becomes the left column, read bottom-up
    np.testing.assert_array_equal(T.rotate_nearest(x, 90.0)[0, ..., 0], [[3, 6, 9], [2, 5, 8], [1, 4, 7]])
    np.testing.assert_array_equal(T.rotate_nearest(x, -90.0)[0, ..., 0], [[7, 4, 1], [8, 5, 2], [9, 6, 3]])
    # 45 degrees on 5x5: the corners' sources fall outside the image and become 0; the centre stays
    y = np.arange(1, 26, dtype=np.float32).reshape(1, 5, 5, 1)
    out = T.rotate_nearest(y, 45.0)[0, ..., 0]
    assert out[2, 2] == 13 and out[0, 0] == out[4, 4] == out[0, 4] == out[4, 0] == 0
    assert out[0, 2] == 9  # source (0.59, 3.41) rounds to row 1, column 3: up-right of the top centre


def test_nda_ops_per_sample_on_all_frames():
    rng = np.random.default_rng(3)
    frames = rng.random((3, 2, 9, 9, 2)).astype(np.float32)  # [N, T, H, W, C]
    ops = np.array([0, 1, 2])  # roll, rotate, cutout
    params = np.array([[2.0, -3.0], [90.0, 0.0], [4.0, 0.0]])
    got = T.nda(frames, ops, params)
    np.testing.assert_array_equal(got[0], np.roll(frames[0], (2, -3), axis=(1, 2)))
    np.testing.assert_array_equal(got[1], np.rot90(frames[1], 1, axes=(1, 2)))  # numpy: counter-clockwise
    # cutout of side int(9 / 3) = 3 -> half 1: rows [3, 5), columns [0, 1) (clipped at the border)
    want = frames[2].copy()
    want[:, 3:5, 0:1] = 0
    np.testing.assert_array_equal(got[2], want)


def test_draw_nda_ranges_and_determinism():
    ops, params = T.draw_nda(np.random.default_rng(0), 600, 64, 64)
    assert set(np.unique(ops)) == {0, 1, 2}
    assert np.all(np.abs(params[ops == 0]) <= 21) and np.all(params[ops == 0] == np.round(params[ops == 0]))
    assert np.all(np.abs(params[ops == 1, 0]) <= 30.0) and np.ptp(params[ops == 1, 0]) > 50.0
    assert np.all((params[ops == 2] >= 0) & (params[ops == 2] < 64))
    again = T.draw_nda(np.random.default_rng(0), 600, 64, 64)
    np.testing.assert_array_equal(again[0], ops) and np.testing.assert_array_equal(again[1], params)
