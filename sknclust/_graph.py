"""A partition of a nearest-neighbour graph: spectral parts, merged by modularity.

Spectral clustering rounds the K leading eigenvectors of the graph's
Laplacian to K parts. When the classes are not the graph's K weakest cuts,
the rounding errs: a class spread thinly along a manifold (handwritten ones
of every slant) is cut into pieces while two classes that touch share a
part. Cutting the graph into more parts separates the touching classes,
and the pieces of one class share many edges, so merging parts greedily by
modularity gain puts them back together. :func:`modularity_partition` forms
K parts directly and from 2K and 3K parts, and keeps the partition of
highest modularity: the label-free measure of how much more the parts are
linked inside than a random graph with the same degrees would be.

Modularity also rewards parts of equal size (its -sum of squared volumes
term, the resolution limit): on well-separated groups of unequal sizes it
prefers joining a small group to an unrelated one over rejoining two
pieces of a large group. So a candidate that cuts an order of magnitude
fewer edges than modularity's pick is kept instead, as long as no part of
it is starved: there the pick's only advantage is balance, not the graph's
structure.
"""

import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.linalg import qr, svd
from sklearn.manifold import spectral_embedding
from sklearn.neighbors import kneighbors_graph

from sknclust._reseed import STARVED

# Over-segmentations tried besides K parts, as multiples of K.
_OVERSEGMENT = (2, 3)
# A candidate cutting under this share of the edges that the candidate of
# highest modularity cuts is kept instead. Where classes touch, the cuts of
# the candidates differ by less than half; where the graph separates the
# groups, the cleanest cuts about a hundredth of what the balanced pick cuts.
# Its parts must not be starved (see sknclust._reseed): a graph with a few tiny
# isolated groups has a K-part candidate that cuts nothing but holds them as
# clusters, which training would at once re-seed.
_FEWER_CUTS = 0.1


def knn_graph(points: np.ndarray, n_neighbors: int) -> sp.csr_matrix:
    """Symmetric nearest-neighbour connectivity: 1 where either row is among
    the other's neighbours, 1/2 where only one is (as in
    :class:`~sklearn.cluster.SpectralClustering`)."""
    graph = kneighbors_graph(points, n_neighbors, include_self=True)
    return (0.5 * (graph + graph.T)).tocsr()


def qr_rounding(vectors: np.ndarray) -> np.ndarray:
    """Part of each row of a spectral embedding, by column-pivoted QR.

    Damle, Minden and Ying's rounding: the pivots pick one representative
    row per part, an orthogonal rotation aligns the embedding with them, and
    each row joins the part of its largest rotated coordinate. No random
    start, unlike k-means.
    """
    k = vectors.shape[1]
    pivots = qr(vectors.T, pivoting=True, mode="r")[1][:k]
    left, _, right = svd(vectors[pivots].T)
    return np.abs(vectors @ (left @ right)).argmax(axis=1)


def modularity(labels: np.ndarray, graph: sp.csr_matrix) -> float:
    """Newman's modularity of a partition of a weighted undirected graph."""
    return _Candidate.of(labels, graph).modularity


def merge_parts(labels: np.ndarray, graph: sp.csr_matrix, n_parts: int) -> np.ndarray:
    """Merge the parts of ``labels`` pairwise, each time the pair whose
    merge raises the modularity most, until ``n_parts`` remain."""
    links, volumes = _part_links(labels, graph)
    np.fill_diagonal(links, 0.0)
    root = np.arange(links.shape[0])
    alive = np.ones(links.shape[0], dtype=bool)
    for _ in range(links.shape[0] - n_parts):
        gain = 2 * (links - np.outer(volumes, volumes))
        gain[~alive] = gain[:, ~alive] = -np.inf
        np.fill_diagonal(gain, -np.inf)
        a, b = np.unravel_index(np.argmax(gain), gain.shape)
        links[a] += links[b]
        links[:, a] += links[:, b]
        links[a, a] = 0.0
        volumes[a] += volumes[b]
        alive[b] = False
        root[root == b] = a
    return np.unique(root[labels], return_inverse=True)[1]


def modularity_partition(
    points: np.ndarray, n_clusters: int, n_neighbors: int, random_state: int
) -> np.ndarray:
    """Partition of ``points`` into ``n_clusters`` parts of their neighbour graph.

    Spectral parts (``n_clusters`` of them, and twice and three times as many
    merged back by :func:`merge_parts`), of which the partition with the
    highest :func:`modularity` is returned, unless another cuts less than a
    tenth as many edges and none of its parts holds under ``STARVED`` of an
    equal share. Each point links to at most ``n_neighbors`` others
    (fewer when there are fewer). ``random_state`` seeds the eigensolver;
    the rest is deterministic.
    """
    n = len(points)
    graph = knn_graph(points, min(n_neighbors, n - 1))
    sizes = [n_clusters] + [f * n_clusters for f in _OVERSEGMENT if f * n_clusters < n]
    with warnings.catch_warnings():
        # A graph in pieces still has a partition.
        warnings.filterwarnings("ignore", "Graph is not fully connected")
        embedding = spectral_embedding(
            graph, n_components=max(sizes), random_state=random_state, drop_first=False
        )
    candidates = []
    for size in sizes:
        parts = np.unique(qr_rounding(embedding[:, :size]), return_inverse=True)[1]
        labels = merge_parts(parts, graph, n_clusters)
        candidates.append(_Candidate.of(labels, graph, n_clusters))
    best = candidates[0]
    for candidate in candidates[1:]:
        # Near-ties go to the earlier (fewer parts) candidate.
        if candidate.modularity > best.modularity + 1e-12:
            best = candidate
    cleanest = min(candidates, key=lambda c: c.cut)
    floor = STARVED * n / n_clusters
    if cleanest.smallest >= floor and cleanest.cut < _FEWER_CUTS * best.cut:
        return cleanest.labels
    return best.labels


class _Candidate(NamedTuple):
    """A partition into at most K parts with its modularity, the share of the
    graph's edge weight it cuts, and the size of its smallest part (0 when
    it has fewer than K)."""

    labels: np.ndarray
    modularity: float
    cut: float
    smallest: int

    @classmethod
    def of(cls, labels, graph, n_parts=1):
        links, volumes = _part_links(labels, graph)
        inside = float(np.trace(links))
        score = inside - float((volumes**2).sum())
        smallest = int(np.bincount(labels, minlength=n_parts).min())
        return cls(labels, score, 1.0 - inside, smallest)


def _part_links(labels: np.ndarray, graph: sp.csr_matrix):
    """Edge weight between every pair of parts (the diagonal: inside each
    part) and each part's volume, both as shares of the graph's total."""
    n = len(labels)
    parts = sp.csr_matrix(
        (np.ones(n), (np.arange(n), labels)), shape=(n, int(labels.max()) + 1)
    )
    links = (parts.T @ graph @ parts).toarray()
    links /= links.sum()
    return links, links.sum(axis=1)
