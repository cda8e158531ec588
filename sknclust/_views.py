"""Second views of training rows, for the consistency terms of the estimators.

A consistency term asks a row and a view of it to land in the same cluster.
What a good view is depends on what the features mean, which the estimator
knows only from ``image_shape``:

- image rows get random warps (shifts, rotations, zooms, intensity), which
  keep the class of a digit or an object;
- other rows get one of their nearest training rows, drawn anew at each
  step, as in SCAN (Van Gansbeke et al., 2020): a row's nearest neighbours
  mostly share its class, and finding them needs no knowledge of the
  features.
"""

from numbers import Integral

import torch
from sklearn.utils._param_validation import Interval

from sknclust._neighbors import nearest_neighbors
from sknclust.nn._augment import image_augment, tabular_augment


class Views:
    """Random views of training rows: image warps, or nearest neighbours.

    Parameters
    ----------
    image_shape : tuple of int or None
        ``(channels, height, width)`` of image rows; None for other rows.
    n_neighbors : int, default=10
        Neighbours per row from which a view of a non-image row is drawn.
    """

    parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, image_shape, n_neighbors=10):
        self.image_shape = image_shape
        self.n_neighbors = n_neighbors
        self._neighbors = None
        self._rows = None

    @property
    def uses_neighbors(self) -> bool:
        """Whether views are neighbours (the row itself is then a view too)."""
        return self.image_shape is None

    def prepare(self, training_set):
        """Find the neighbours of every training row (non-image rows only)."""
        if self.uses_neighbors:
            self._neighbors = nearest_neighbors(training_set, self.n_neighbors)
            self._rows = training_set.rows
            if self._neighbors.shape[1] == 0:  # a single row: noise instead
                self._neighbors = None
        return self

    def release(self):
        """Drop the neighbour table: a training aid, not fitted state."""
        self._neighbors = self._rows = None

    def augment(self, x):
        """A random augmentation of each row of ``x``."""
        if self.image_shape is not None:
            return image_augment(x, self.image_shape)
        return tabular_augment(x)

    def __call__(self, x, index):
        """A random view of each row of the batch ``x`` (training rows ``index``)."""
        if self._neighbors is None:
            return self.augment(x)
        neighbors = self._neighbors[index]
        pick = torch.randint(neighbors.shape[1], (len(index),), device=x.device)
        rows = torch.arange(len(index), device=x.device)
        return self._rows(neighbors[rows, pick])
