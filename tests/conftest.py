"""Shared test configuration: one torch thread, and where the real datasets live."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption(
        "--data-dir",
        default=None,
        help="folder holding mnist/ and usps/ "
        "(default: $SKNCLUST_DATA, else ../shared/data)",
    )


@pytest.fixture(scope="session")
def data_dir(request) -> Path:
    """The real-data folder; tests that need it skip cleanly when it is absent."""
    path = (
        request.config.getoption("--data-dir")
        or os.environ.get("SKNCLUST_DATA")
        or "../shared/data"
    )
    path = Path(path)
    if not path.is_dir():
        pytest.skip(f"real datasets not found in {path}")
    return path
