"""State-dict files: .npz and .safetensors without torch, .pth through torch (skipped without it)."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest

from snnjax.convert import formats
from snnjax.errors import CheckpointError, ConfigError

TENSORS = {
    "conv1.module.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
    "bn1.module.num_batches_tracked": np.array(7, np.int64),
    "fc.bias": np.array([-1.5, 2.25], np.float32),
}


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_write_then_read_is_the_identity(tmp_path, suffix):
    path = formats.write_state_dict(TENSORS, tmp_path / f"w{suffix}")
    back = formats.read_state_dict(path)
    assert back.keys() == TENSORS.keys()
    for key, value in TENSORS.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape
        np.testing.assert_array_equal(back[key], value)


def _safetensors(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def test_safetensors_half_precision_and_module_prefix(tmp_path):
    """Keys of a DataParallel model lose ``module.``; F16 and BF16 tensors come back as float32."""
    half = np.array([1.5, -2.0], np.float16)
    bf16 = (np.array([0.75, -3.0], np.float32).view(np.uint32) >> 16).astype("<u2")
    header = {
        "__metadata__": {"format": "pt"},
        "module.a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
        "module.b": {"dtype": "BF16", "shape": [2], "data_offsets": [4, 8]},
    }
    (tmp_path / "h.safetensors").write_bytes(_safetensors(header, half.tobytes() + bf16.tobytes()))
    back = formats.read_state_dict(tmp_path / "h.safetensors")
    assert sorted(back) == ["a", "b"] and back["a"].dtype == np.float32
    np.testing.assert_array_equal(back["a"], [1.5, -2.0])
    np.testing.assert_array_equal(back["b"], [0.75, -3.0])


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown weights format '\.ckpt'"):
        formats.read_state_dict(tmp_path / "w.ckpt")
    with pytest.raises(CheckpointError, match="not found"):
        formats.read_state_dict(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match=r"not a readable \.npz"):
        formats.read_state_dict(tmp_path / "junk.npz")
    with pytest.raises(ConfigError, match=r"export writes \.npz or \.safetensors"):
        formats.write_state_dict(TENSORS, tmp_path / "w.pth")


def test_pth_without_torch_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "w.pth").write_bytes(b"\x80")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(ConfigError, match=r"needs PyTorch: pip install 'snnjax\[torch\]'"):
        formats.read_state_dict(tmp_path / "w.pth")


def test_pth_state_dict_nested_and_prefixed(tmp_path):
    torch = pytest.importorskip("torch")
    state = {f"module.{k}": torch.from_numpy(np.array(v)) for k, v in TENSORS.items()}
    # IDE's training script: {'epoch', 'state_dict' of a DataParallel model, 'best_acc', ...} as .pth.tar
    torch.save(
        {"epoch": 3, "state_dict": state, "best_acc": 90.1, "optimizer": {"lr": 0.1}},
        tmp_path / "ckpt.pth.tar",
    )
    torch.save(
        {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()},
        tmp_path / "plain.pt",
    )
    nested, plain = (
        formats.read_state_dict(tmp_path / "ckpt.pth.tar"),
        formats.read_state_dict(tmp_path / "plain.pt"),
    )
    assert nested.keys() == plain.keys() == TENSORS.keys()
    np.testing.assert_array_equal(nested["conv1.module.weight"], TENSORS["conv1.module.weight"])
    np.testing.assert_array_equal(plain["fc.bias"], TENSORS["fc.bias"])  # exact in bfloat16
    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        formats.read_state_dict(tmp_path / "empty.pth")
