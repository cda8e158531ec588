"""Device selection shared by every estimator."""

import re
import warnings

import torch

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device) -> torch.device:
    """Turn a ``device`` parameter into an available :class:`torch.device`.

    ``"auto"`` picks CUDA, then MPS, then the CPU. An explicit device that is not
    present raises ``ValueError`` naming it (torch's own error is a RuntimeError).
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
        raise ValueError(
            f"device={device!r} is not understood; use 'auto', 'cpu', 'cuda', "
            "'cuda:N' or 'mps'."
        )
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available."
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are present."
            )
    if device == "mps" and not _mps_available():
        raise ValueError("device='mps' was requested but MPS is not available.")
    return torch.device(device)


def loadable_device(device_name: str) -> torch.device:
    """Device to restore a pickled model on: the one it was fitted on if present.

    A model fitted on a GPU falls back to the CPU on a machine without one.
    """
    try:
        return resolve_device(device_name)
    except ValueError:
        warnings.warn(
            f"The model was fitted on {device_name!r}, which is not available here; "
            "it is loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
