"""A manifold step before k-means: spectral clustering of embedded rows.

k-means on an autoencoder's codes assumes clusters that are compact balls,
and its restarts settle in different local minima (one class split, two
others merged) from one seed to the next. The codes' nearest-neighbour graph
follows the shape of each class instead: the leading eigenvectors of its
normalised adjacency are near-constant within classes the graph keeps apart,
and k-means on them, with each row scaled to unit length (Ng, Jordan and
Weiss, 2002), is far less sensitive to its start. N2D makes the same step with
UMAP before a Gaussian mixture.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh
from sklearn.cluster import KMeans
from sklearn.neighbors import kneighbors_graph

# Neighbours of each row in the graph (UMAP's default).
N_NEIGHBORS = 15
# Below this many rows a dense eigendecomposition is cheaper and more robust.
_DENSE_BELOW = 500


def spectral_partition(Z, n_clusters, random_state):
    """Cluster labels of the rows of ``Z`` from its nearest-neighbour graph.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Rows to cluster (codes of an autoencoder).
    n_clusters : int
        Number of clusters; every one is populated.
    random_state : int
        Seeds the eigensolver's start and k-means.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
    """
    n = Z.shape[0]
    if n <= n_clusters:
        # Too few rows for a graph with n_clusters directions.
        return KMeans(n_clusters, n_init=10, random_state=random_state).fit_predict(Z)
    graph = kneighbors_graph(Z, min(N_NEIGHBORS, n - 1), include_self=True)
    graph = 0.5 * (graph + graph.T)
    scale = sp.diags(1 / np.sqrt(np.asarray(graph.sum(1)).ravel()))
    adjacency = scale @ graph @ scale
    if n < _DENSE_BELOW:
        values, vectors = np.linalg.eigh(adjacency.toarray())
    else:
        start = np.random.RandomState(random_state).uniform(-1, 1, n)
        values, vectors = eigsh(adjacency, k=n_clusters, which="LA", v0=start, tol=1e-6)
    # All n_clusters leading eigenvectors, the degree-only first included:
    # when the graph falls apart, they span the indicators of its pieces.
    embedding = vectors[:, np.argsort(-values)[:n_clusters]]
    norms = np.linalg.norm(embedding, axis=1, keepdims=True)
    embedding = embedding / np.maximum(norms, 1e-12)
    km = KMeans(n_clusters, n_init=10, random_state=random_state)
    return km.fit_predict(embedding)
