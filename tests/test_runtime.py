"""snnjax.runtime: the malloc setting takes effect in a fresh process and is reported where it applies."""

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
