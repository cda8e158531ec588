"""Loss terms shared by the estimators."""

import torch
from torch.nn import functional as F


def reconstruction_loss(x, output, bernoulli: bool = False) -> torch.Tensor:
    """Per-sample reconstruction loss, summed over features.

    Parameters
    ----------
    x : tensor of shape (n_samples, n_features)
        The rows to reconstruct.
    output : tensor of shape (n_samples, n_features)
        Decoder means for the squared error (the Gaussian likelihood up to
        scale and constants), or decoder logits for the binary cross-entropy.
    bernoulli : bool, default=False
        Use the binary cross-entropy (data in [0, 1]).

    Returns
    -------
    loss : tensor of shape (n_samples,)
        The loss of each row.
    """
    if bernoulli:
        return F.binary_cross_entropy_with_logits(output, x, reduction="none").sum(1)
    return ((x - output) ** 2).sum(1)
