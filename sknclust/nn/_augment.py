"""Random data augmentations written in torch, for consistency objectives.

Every function takes a batch of flattened rows and returns a batch of the same
shape, dtype and device. Randomness comes from the global torch RNG, which the
estimators seed inside a forked RNG, so augmentations are reproducible without
touching the user's RNG state.
"""

import math

import torch
from torch.nn import functional as F


def tabular_augment(
    x: torch.Tensor, *, noise_std: float = 0.1, drop_prob: float = 0.1
) -> torch.Tensor:
    """Gaussian noise plus feature dropout for (scaled) tabular rows.

    Dropped features are set to zero, which is the feature mean of centred
    data; no rescaling, so the view stays on the data's scale.

    Parameters
    ----------
    x : tensor of shape (n_samples, n_features)
        Rows to augment.
    noise_std : float, default=0.1
        Standard deviation of the added Gaussian noise.
    drop_prob : float, default=0.1
        Probability that a feature is set to zero.

    Returns
    -------
    x_aug : tensor of the same shape, dtype and device as ``x``
        The augmented rows.
    """
    noisy = x + noise_std * torch.randn_like(x)
    if drop_prob <= 0:
        return noisy
    keep = torch.rand_like(x) >= drop_prob
    return noisy * keep


def _as_chw(image_shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in image_shape)
    return (1, *shape) if len(shape) == 2 else shape


def image_augment(
    x: torch.Tensor,
    image_shape: tuple[int, ...],
    *,
    max_shift: float = 0.1,
    max_rotation: float = 10.0,
    scale_range: tuple[float, float] = (0.9, 1.1),
    intensity: float = 0.1,
) -> torch.Tensor:
    """Random shifts, small rotations, crop-like zooms and intensity jitter.

    Parameters
    ----------
    x : tensor of shape (n_samples, channels * height * width)
        Flattened images.
    image_shape : tuple of int
        ``(channels, height, width)`` or ``(height, width)``.
    max_shift : float, default=0.1
        Largest translation, as a fraction of the image side.
    max_rotation : float, default=10.0
        Largest rotation, in degrees.
    scale_range : tuple of float, default=(0.9, 1.1)
        Range of the zoom factor; a zoom above one acts as a random crop.
    intensity : float, default=0.1
        Largest relative change of contrast, and largest brightness offset in
        units of the batch's intensity spread.

    Returns
    -------
    x_aug : tensor of the same shape, dtype and device as ``x``
        The augmented images, flattened again.
    """
    c, h, w = _as_chw(image_shape)
    n = x.shape[0]
    images = x.reshape(n, c, h, w)
    # Sample in float32 on the batch's device, whatever the batch dtype, so a
    # seed gives the same views in float32 and float64.
    opts = dict(device=x.device, dtype=torch.float32)
    angle = (2 * torch.rand(n, **opts) - 1) * math.radians(max_rotation)
    low, high = scale_range
    zoom = low + (high - low) * torch.rand(n, **opts)
    shift = (2 * torch.rand(n, 2, **opts) - 1) * (2 * max_shift)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output coordinates to input ones in [-1, 1] units.
    theta = torch.stack(
        [
            torch.stack([cos, -sin, shift[:, 0]], dim=1),
            torch.stack([sin, cos, shift[:, 1]], dim=1),
        ],
        dim=1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
    warped = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    contrast = 1 + (2 * torch.rand(n, 1, 1, 1, **opts) - 1) * intensity
    brightness = (2 * torch.rand(n, 1, 1, 1, **opts) - 1) * intensity
    spread = x.detach().std().clamp_min(1e-12)
    mean = warped.mean(dim=(1, 2, 3), keepdim=True)
    jittered = (warped - mean) * contrast.to(x.dtype) + mean
    jittered = jittered + brightness.to(x.dtype) * spread
    return jittered.reshape(n, c * h * w)
