"""A start for a network's cluster logits from the rows' neighbour graph.

Deep clusterers trained from a random network settle on a partition within
their first epochs, and which partition varies widely between seeds. A
partition of the rows' nearest-neighbour graph (spectral parts merged by
modularity, :mod:`sknclust._graph`) is steady from seed to seed and
follows the neighbourhoods rather than the raw geometry (unlike k-means
on the rows, which on pixels starts from a poor basin). Training the
network's cluster logits to predict it for about a hundred steps gives the
method's own training a common starting point, which it then refines.
"""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval
from torch.nn import functional as F

from sknclust._base import auto_epochs
from sknclust._neighbors import graph_partition

# Optimiser steps of the start, within these epochs: long enough for the
# logits to follow the partition, short enough to leave the features free.
_STEPS, _EPOCHS = 100, (1, 3)


class GraphStart:
    """Train cluster logits to predict a partition of the neighbour graph.

    Parameters
    ----------
    n_neighbors : int, default=10
        Neighbours per row in the graph.
    """

    parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_neighbors=10):
        self.n_neighbors = n_neighbors
        self.labels = None

    def prepare(self, training_set, n_clusters, rng):
        """Partition the check rows of ``training_set`` (see
        :func:`~sknclust._neighbors.graph_partition`), with the eigensolver
        seeded from ``rng`` (a ``RandomState``); once per fit, as every run
        starts from the same partition."""
        seed = rng.randint(np.iinfo(np.int32).max)
        self.labels = graph_partition(training_set, n_clusters, self.n_neighbors, seed)
        return self

    def train(self, estimator, training_set, logits):
        """Train ``logits(module, x)`` of ``estimator.module_`` to predict the
        partition by cross-entropy, as the phase ``"start"``; rows outside
        the partition are ignored. Does nothing without a partition (too few
        rows)."""
        labels = self.labels
        if labels is None:
            return

        def loss(module, x, index):
            target = labels[index]
            scores = logits(module, x)
            if not bool((target >= 0).any()):
                return scores.sum() * 0.0
            return F.cross_entropy(scores, target, ignore_index=-1)

        epochs = auto_epochs(training_set.n_batches, _STEPS, *_EPOCHS)
        estimator._train("start", loss, training_set, epochs=epochs)

    def release(self):
        """Drop the partition: a training aid, not fitted state."""
        self.labels = None
