"""Shared test configuration: one torch thread, and where the real datasets live."""

import os
from pathlib import Path

import numpy as np
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


@pytest.fixture
def two_shapes():
    """Noisy 8x8 images of two shapes, a bright top half and a bright left
    half, 40 each, with their labels."""
    top = np.zeros((8, 8))
    top[:4] = 1
    left = np.zeros((8, 8))
    left[:, :4] = 1
    rows = np.concatenate([np.tile(img.ravel(), (40, 1)) for img in (top, left)])
    noise = np.random.RandomState(0).normal(scale=0.05, size=rows.shape)
    return rows + noise, np.repeat([0, 1], 40)


@pytest.fixture
def record_warps(monkeypatch):
    """``record(module)`` makes ``module.image_augment`` log each call's
    image shape, in the list it returns, and still warp."""

    def record(module):
        warped = []
        warp = module.image_augment

        def spy(x, image_shape, **kw):
            warped.append(image_shape)
            return warp(x, image_shape, **kw)

        monkeypatch.setattr(module, "image_augment", spy)
        return warped

    return record
