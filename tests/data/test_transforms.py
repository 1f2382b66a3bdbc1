"""Tests of snnjax.data.transforms: exact small-array results and determinism given the generator."""

import numpy as np
import pytest

from snnjax.data import transforms as T


def _image_batch(n=1, h=3, w=3, c=1):
    return np.arange(1, n * h * w * c + 1, dtype=np.uint8).reshape(n, h, w, c)


def test_crop_with_offsets_exact():
    x = _image_batch()  # [[1,2,3],[4,5,6],[7,8,9]]
    offsets = np.array([[0, 0]])
    shifted = T.crop_with_offsets(x, offsets, padding=1)[0, ..., 0]
    np.testing.assert_array_equal(shifted, [[0, 0, 0], [0, 1, 2], [0, 4, 5]])
    centre = T.crop_with_offsets(x, np.array([[1, 1]]), padding=1)
    np.testing.assert_array_equal(centre, x)
    other = T.crop_with_offsets(x, np.array([[2, 1]]), padding=1)[0, ..., 0]
    np.testing.assert_array_equal(other, [[4, 5, 6], [7, 8, 9], [0, 0, 0]])


def test_crop_with_flips_and_multiple_images():
    x = _image_batch(n=2, c=2)
    offsets = np.array([[1, 1], [1, 2]])
    out = T.crop_with_offsets(x, offsets, padding=1, flips=np.array([True, False]))
    np.testing.assert_array_equal(out[0], x[0, :, ::-1])
    np.testing.assert_array_equal(out[1, :, :2], x[1, :, 1:])
    np.testing.assert_array_equal(out[1, :, 2], 0)
    assert out.dtype == np.uint8


def test_random_crop_keeps_content_and_shape():
    rng = np.random.default_rng(0)
    x = np.random.default_rng(1).integers(1, 256, (16, 8, 8, 3), dtype=np.uint8)
    out = T.random_crop(x, rng, padding=2)
    assert out.shape == x.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(T.random_crop(x, rng, padding=0), x)
    offsets = T.sample_crop_offsets(np.random.default_rng(0), 16, 2)
    assert offsets.min() >= 0 and offsets.max() <= 4
    # every crop is a window of the padded image
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for i, (dy, dx) in enumerate(offsets):
        np.testing.assert_array_equal(out[i], padded[i, dy : dy + 8, dx : dx + 8])


def test_flip_exact():
    x = _image_batch(n=2)
    out = T.flip_where(x, np.array([True, False]))
    np.testing.assert_array_equal(out[0, ..., 0], [[3, 2, 1], [6, 5, 4], [9, 8, 7]])
    np.testing.assert_array_equal(out[1], x[1])
    flips = T.sample_flips(np.random.default_rng(0), 1000)
    assert 400 < flips.sum() < 600
    np.testing.assert_array_equal(T.random_flip(x, np.random.default_rng(3)).shape, x.shape)


def test_normalize_exact():
    x = np.array([[[[0, 255, 51]]]], dtype=np.uint8)
    out = T.normalize(x, T.CIFAR10_MEAN, T.CIFAR10_STD)
    expected = (np.array([0.0, 1.0, 0.2]) - np.array(T.CIFAR10_MEAN)) / np.array(T.CIFAR10_STD)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, 0], expected, rtol=1e-5)
    raw = T.normalize(x)
    np.testing.assert_allclose(raw[0, 0, 0], [0.0, 1.0, 0.2], rtol=1e-6)
    gray = T.normalize(np.full((1, 2, 2, 1), 255, np.uint8), T.MNIST_MEAN, T.MNIST_STD)
    np.testing.assert_allclose(gray, (1.0 - 0.1307) / 0.3081, rtol=1e-5)


def test_normalization_constants():
    assert T.NORMALIZATION["cifar100"] == ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
    assert T.NORMALIZATION["imagenet2012"] == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert T.NORMALIZATION["mnist"] == ((0.1307,), (0.3081,))


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
