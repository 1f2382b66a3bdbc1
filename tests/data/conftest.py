"""Shared fixtures of the data tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of real raw dataset files (``$SNNJAX_TEST_DATA``: ``mnist/``, ``fashion_mnist/``, ``cifar10/``,
    ``nmnist/sample_nmnist.bin``); tests using it are skipped where it is not set."""
    root = os.environ.get("SNNJAX_TEST_DATA", "")
    if not root or not Path(root).is_dir():
        pytest.skip("set SNNJAX_TEST_DATA to a folder of real dataset files to run this test")
    return Path(root)
