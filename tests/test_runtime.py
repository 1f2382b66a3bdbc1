"""snnjax.runtime: the malloc setting and the XLA convolution flag take effect in a fresh process."""

import os
import subprocess
import sys
import textwrap

import pytest

from snnjax import runtime

# allocate and free a 100 MB block twice in a fresh process; count the minor page faults of the second
_PROBE = textwrap.dedent(
    """
    import ctypes, resource, sys
    from snnjax import runtime
    if sys.argv[1] == "retain":
        assert runtime.retain_freed_memory()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    def touch():
        p = libc.malloc(100 << 20)
        ctypes.memset(p, 1, 100 << 20)
        libc.free(ctypes.c_void_p(p))
    touch()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    touch()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc")
def test_retained_memory_is_not_faulted_in_again():
    env = {k: v for k, v in os.environ.items() if k != "SNNJAX_MALLOC"}
    faults = {
        mode: int(
            subprocess.run(
                [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=env, check=True
            ).stdout
        )
        for mode in ("system", "retain")
    }
    # glibc's default maps a 100 MB block afresh each time (25,600 pages of 4 KiB); retained, it is reused
    assert faults["system"] > 20_000, faults
    assert faults["retain"] < 1_000, faults


def test_opt_out_and_platform_detection(monkeypatch):
    monkeypatch.setenv("SNNJAX_MALLOC", "system")
    assert runtime.retain_freed_memory() is False
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert runtime.cpu_only()
    monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
    assert not runtime.cpu_only()


# compile a LeNet-sized 5x5 convolution in a fresh process; print whether YNNPACK runs it
_CONV_PROBE = textwrap.dedent(
    """
    import sys
    from snnjax import runtime
    if sys.argv[1] == "xla":
        assert runtime.use_xla_convolutions()
    import jax, jax.numpy as jnp
    conv = jax.jit(lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                                             dimension_numbers=("NHWC", "HWIO", "NHWC")))
    hlo = conv.lower(jnp.ones((8, 14, 14, 15)), jnp.ones((5, 5, 15, 40))).compile().as_text()
    print("__ynn_fusion" in hlo)
    """
)


@pytest.mark.slow
def test_xla_convolutions_replace_ynnpack_ones():
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    env["JAX_PLATFORMS"] = "cpu"
    uses_ynn = {
        mode: subprocess.run(
            [sys.executable, "-c", _CONV_PROBE, mode], capture_output=True, text=True, env=env, check=True
        ).stdout.strip()
        for mode in ("default", "xla")
    }
    assert uses_ynn == {"default": "True", "xla": "False"}


def test_xla_convolutions_keep_the_users_flag(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert runtime.use_xla_convolutions()
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
    own = "--xla_cpu_enable_fast_math=false --xla_cpu_experimental_ynn_fusion_type=+individual_convolution"
    monkeypatch.setenv("XLA_FLAGS", own)
    assert runtime.use_xla_convolutions() is False
    assert os.environ["XLA_FLAGS"] == own


@pytest.mark.parametrize(
    ("flags", "ynnpack"),
    [
        ("", True),
        ("--xla_cpu_enable_fast_math=false", True),
        ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution", False),
        ("--xla_cpu_experimental_ynn_fusion_type=+individual_convolution", True),
        ("--xla_cpu_experimental_ynn_fusion_type=-individual_dot", True),
        ("--xla_cpu_experimental_ynn_fusion_type=individual_dot", False),  # an explicit list without it
        ("--xla_cpu_experimental_ynn_fusion_type=individual_dot,individual_convolution", True),
        ("--xla_cpu_experimental_ynn_fusion_type=", False),
    ],
)
def test_ynnpack_convolutions_reads_the_flag(flags, ynnpack):
    assert runtime.ynnpack_convolutions(flags) is ynnpack
    assert runtime.ynnpack_convolutions(runtime.with_xla_convolutions(flags)) is (ynnpack and "ynn" in flags)


_SETUP_PROBE = textwrap.dedent(
    """
    import json, os
    from snnjax import runtime
    first = runtime.setup()
    import jax.numpy as jnp
    jnp.ones(3).block_until_ready()
    print(json.dumps([first, runtime.setup(), runtime.retaining(), os.environ.get("XLA_FLAGS", "")]))
    """
)


def test_setup_applies_the_cpu_settings_once_before_jax_starts():
    import json

    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "SNNJAX_MALLOC", "MALLOC_MMAP_MAX_")}
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run(
        [sys.executable, "-c", _SETUP_PROBE], capture_output=True, text=True, env=env, check=True
    )
    first, again, retaining, flags = json.loads(out.stdout)
    assert first == {"malloc": True, "xla_convolutions": runtime._jaxlib_has_ynn()}
    assert again == {"malloc": False, "xla_convolutions": False}  # JAX has started: too late, nothing done
    assert retaining
    assert ("-individual_convolution" in flags) is runtime._jaxlib_has_ynn()


def test_release_large_blocks_maps_them_again():
    probe = _PROBE.replace(
        "assert runtime.retain_freed_memory()",
        "assert runtime.retain_freed_memory()\n    assert runtime.release_large_blocks()",
    )
    env = {k: v for k, v in os.environ.items() if k != "SNNJAX_MALLOC"}
    out = subprocess.run(
        [sys.executable, "-c", probe, "retain"], capture_output=True, text=True, env=env, check=True
    )
    assert int(out.stdout) > 20_000  # the 100 MB block is mapped afresh, as with glibc's default
