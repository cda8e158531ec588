"""Nearest neighbours of the training rows, the views of non-image rows.

A row's nearest neighbours in the scaled input space mostly share its class,
so one of them serves as a second view of the row, as in SCAN (Van Gansbeke
et al., 2020): unlike noise or image warps, such a view needs no knowledge of
what the features are. The search is exact and brute force on the training
device, after a projection on the leading principal components. The same
projection serves :func:`graph_partition`, a partition of the neighbour
graph, which :class:`~sknclust._start.GraphStart` trains a
network's cluster logits to predict before the method's own training.
"""

import math

import numpy as np
import torch
from sklearn.decomposition import TruncatedSVD

from sknclust._graph import modularity_partition
from sknclust._runs import check_index

# Neighbours are searched among the projections on this many principal
# components (when there are more features): distances keep most of their
# structure, and the search costs a fraction of the full-width one.
N_COMPONENTS = 100
# Distance entries per block of the search (128 MiB of float32).
_BLOCK = 2**25


def _projected(training_set, n_components):
    """Training rows as a dense tensor of at most ``n_components`` columns."""
    n_features = training_set.n_features
    if training_set.data is None and n_features > n_components:
        # Sparse rows: a truncated SVD of the scaled matrix, as in LSA.
        seed = int(torch.randint(2**31 - 1, (1,)))
        svd = TruncatedSVD(n_components, random_state=seed)
        reduced = svd.fit_transform(training_set.scaled_matrix())
        return torch.as_tensor(np.ascontiguousarray(reduced), dtype=torch.float32).to(
            training_set.device
        )
    data = training_set.data
    if data is None:
        data = training_set.rows(torch.arange(training_set.n_samples))
    if n_features <= n_components:
        return data
    centred = data - data.mean(0)
    # The factorisations are of small matrices: on the CPU, where every
    # backend has them.
    _, _, basis = torch.linalg.svd(_sketch(centred, n_components).cpu(), False)
    return centred @ basis[:n_components].T.to(centred.device)


def _sketch(centred, n_components, oversample=10, n_iter=4):
    """Rows spanning the leading right singular space (randomised range finder).

    Returns a small matrix whose right singular vectors approximate those of
    ``centred``; its SVD is cheap.
    """
    width = min(n_components + oversample, centred.shape[1])
    q = torch.randn(centred.shape[1], width, device=centred.device)
    for _ in range(n_iter):
        q = torch.linalg.qr((centred.T @ (centred @ q)).cpu())[0].to(centred.device)
    return (centred @ q).T @ centred


def nearest_neighbors(training_set, n_neighbors: int) -> torch.Tensor:
    """Indices of each training row's nearest other rows.

    Parameters
    ----------
    training_set : TrainingSet
        The scaled training rows.
    n_neighbors : int
        Neighbours per row; fewer when the data has fewer other rows.

    Returns
    -------
    neighbors : tensor of shape (n_samples, min(n_neighbors, n_samples - 1))
        Row indices (int64, on the training device), nearest first, in
        Euclidean distance between the projections on the leading
        :data:`N_COMPONENTS` principal components of the scaled rows.
    """
    data = _projected(training_set, N_COMPONENTS)
    n = data.shape[0]
    k = min(n_neighbors, n - 1)
    if k < 1:
        return torch.zeros((n, 0), dtype=torch.long, device=data.device)
    squared = (data * data).sum(1)
    block = max(1, _BLOCK // n)
    found = []
    for start in range(0, n, block):
        rows = data[start : start + block]
        # ||a||^2 is the same for every candidate of a row: it does not change
        # the ranking, so only ||b||^2 - 2 a.b is formed.
        dist = torch.addmm(squared.unsqueeze(0), rows, data.T, alpha=-2)
        own = torch.arange(len(rows), device=data.device)
        dist[own, own + start] = math.inf
        found.append(dist.topk(k, dim=1, largest=False).indices)
    return torch.cat(found)


def graph_partition(training_set, n_clusters, n_neighbors, random_state):
    """A partition of the check rows' nearest-neighbour graph.

    Spectral parts merged by modularity (see
    :func:`~sknclust._graph.modularity_partition`).

    Parameters
    ----------
    training_set : TrainingSet
        The scaled training rows; at most 10,000 evenly spaced ones (the
        check rows) are clustered, in the projection that
        :func:`nearest_neighbors` searches.
    n_clusters : int
        Parts of the partition.
    n_neighbors : int
        Neighbours per row in the graph.
    random_state : int
        Seed of the eigensolver.

    Returns
    -------
    labels : tensor of shape (n_samples,) or None
        The part of each check row, -1 for the other rows (int64, on the
        training device); None when there are at most ``2 * n_clusters``
        rows, too few for a graph with that many parts.
    """
    index = check_index(training_set.n_samples).to(training_set.device)
    if len(index) <= 2 * n_clusters:
        return None
    points = _projected(training_set, N_COMPONENTS)[index].cpu().numpy()
    found = modularity_partition(points, n_clusters, n_neighbors, random_state)
    labels = torch.full(
        (training_set.n_samples,), -1, dtype=torch.int64, device=index.device
    )
    labels[index] = torch.as_tensor(found, dtype=torch.int64).to(index.device)
    return labels
