"""Loss terms shared by the estimators."""

import torch
from torch.nn import functional as F


def reconstruction_loss(x, output, bernoulli: bool = False) -> torch.Tensor:
    """Per-sample reconstruction loss, summed over features.

    ``output`` holds decoder means for the squared error (the Gaussian
    likelihood up to scale and constants) and decoder logits for the binary
    cross-entropy (``bernoulli=True``, data in [0, 1]).
    """
    if bernoulli:
        return F.binary_cross_entropy_with_logits(output, x, reduction="none").sum(1)
    return ((x - output) ** 2).sum(1)
