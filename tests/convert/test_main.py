"""``python -m snnjax.convert``: a state dict with the authors' keys -> a normal workdir (eval, load,
train resume) -> the same state dict back."""

from __future__ import annotations

import json

import numpy as np
import pytest

import snnjax
from snnjax.convert import formats
from snnjax.convert.__main__ import main as convert_main
from snnjax.main import main as snnjax_main
from tests.convert.conftest import AUTHORS, FIXTURES, authors_state_dict
from tests.data import fakes


def _fixture(name: str):
    return AUTHORS / f"{name}.npz"


def _args(name: str) -> list[str]:
    spec, overrides = FIXTURES[name]
    return ["--config", spec, *(f"--config.{o}" for o in overrides)]


def run(capsys, fn, *argv) -> tuple[int, str, str]:
    code = fn([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_gac_cifar_state_dict_to_workdir_and_back(tmp_path, capsys):
    workdir = tmp_path / "gac"
    code, out, err = run(
        capsys, convert_main, *_args("gac_cifar"), "--from", _fixture("gac_cifar"), "--workdir", workdir
    )
    assert code == 0, err
    assert json.loads(out)["tensors"] == len(authors_state_dict("gac_cifar"))
    assert (workdir / "config.json").exists()
    model, config = snnjax.load(workdir)  # verified restore of the checkpoint
    assert model.gac.ta.w1.shape == (4, 2) and config.model.num_steps == 4
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    assert snnjax.predict(model, images, config).shape == (2, 10)
    for out_name in ("back.safetensors", "back.npz"):
        code, _, err = run(capsys, convert_main, "--workdir", workdir, "--to", tmp_path / out_name)
        assert code == 0, err
        back, original = formats.read_state_dict(tmp_path / out_name), authors_state_dict("gac_cifar")
        assert back.keys() == original.keys()
        for key in original:
            assert back[key].shape == original[key].shape, key
            np.testing.assert_array_equal(back[key], original[key], err_msg=key)


def test_converted_workdir_evaluates_and_fine_tunes(tmp_path, capsys):
    data = tmp_path / "fmnist"
    fakes.write_fake_mnist(data, num_train=32, num_test=16)
    workdir = tmp_path / "toy"
    data_args = [
        f"--config.data.dir={data}",
        "--config.train.batch_size=16",
        "--config.train.eval_batch_size=16",
    ]
    code, _, err = run(
        capsys,
        convert_main,
        *_args("nsnn_toynet"),
        *data_args,
        "--from",
        _fixture("nsnn_toynet"),
        "--workdir",
        workdir,
    )
    assert code == 0, err
    code, out, err = run(
        capsys,
        snnjax_main,
        "snnjax.main",
        *_args("nsnn_toynet"),
        *data_args,
        "--workdir",
        workdir,
        "--mode=eval",
    )
    assert code == 0, err
    evaluation = json.loads(out[out.index("{") :])
    assert evaluation["step"] == 0 and evaluation["test_examples"] == 16
    # training from the converted checkpoint starts at the first batch and continues from step 0
    code, out, err = run(
        capsys,
        snnjax_main,
        "snnjax.main",
        *_args("nsnn_toynet"),
        *data_args,
        "--workdir",
        workdir,
        "--config.train.num_steps=2",
    )
    assert code == 0, err
    assert "resuming from step 0" in out
    assert json.loads((workdir / "results.json").read_text())["steps"] == 2


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--workdir", "W"], "either --from"),
        (["--workdir", "W", "--from", "x.npz"], "--from needs --config"),
        (
            ["--config", "configs/msresnet_cifar.py", "--workdir", "W", "--from", "x.onnx"],
            "unknown weights format",
        ),
        (["--config", "configs/msresnet_cifar.py", "--workdir", "W", "--from", "missing.npz"], "not found"),
        (["--workdir", "W", "--to", "x.npz"], "not a trained workdir"),
    ],
)
def test_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, convert_main, *argv)
    assert code != 0 and words in err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_converting_into_a_trained_workdir_is_refused(tmp_path, capsys):
    workdir = tmp_path / "w"
    argv = [*_args("nsnn_toynet"), "--from", _fixture("nsnn_toynet"), "--workdir", workdir]
    assert run(capsys, convert_main, *argv)[0] == 0
    code, _, err = run(capsys, convert_main, *argv)
    assert code == 1 and "already holds checkpoints" in err
