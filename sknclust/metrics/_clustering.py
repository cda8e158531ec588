"""Clustering accuracy: the best one-to-one matching of clusters to classes."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix

# check_clusterings is not re-exported by sklearn.metrics.cluster; it has lived in
# this module since scikit-learn 0.20 and is what sklearn's own metrics use.
from sklearn.metrics.cluster._supervised import check_clusterings


def clustering_accuracy(labels_true, labels_pred) -> float:
    """Accuracy of a clustering under the best one-to-one cluster-to-class map.

    Each cluster is mapped to at most one class and each class receives at most
    one cluster; the map maximising the number of correctly labelled samples is
    found with the Hungarian algorithm. When there are more clusters than
    classes, the samples of unmatched clusters count as errors; when there are
    fewer, some classes get no cluster.

    The score does not depend on the label values themselves, so any
    permutation of ``labels_pred`` gives the same result.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate.

    Returns
    -------
    accuracy : float
        Fraction of samples whose cluster is matched to their class, in [0, 1].

    Raises
    ------
    ValueError
        If the inputs are not 1-D, differ in length or are empty.

    See Also
    --------
    sklearn.metrics.normalized_mutual_info_score : Information-based agreement.
    sklearn.metrics.adjusted_rand_score : Pair-counting agreement, chance-adjusted.

    Notes
    -----
    The matching is computed on the contingency table between classes and
    clusters, so the cost is that of ``linear_sum_assignment`` on a
    ``(n_classes, n_clusters)`` matrix, independent of the sample count.

    Examples
    --------
    >>> from sknclust.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 2, 2])
    1.0
    >>> clustering_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1])
    0.8333...
    """
    labels_true, labels_pred = check_clusterings(labels_true, labels_pred)
    if labels_true.size == 0:
        # Unlike NMI/ARI (which call two empty labelings identical), a fraction
        # of zero samples has no meaningful value.
        raise ValueError("clustering_accuracy needs at least one sample.")
    matched = sum(count for _, _, count in best_matching(labels_true, labels_pred))
    return float(matched / labels_true.size)


def best_matching(labels_true, labels_pred) -> list[tuple]:
    """``(cluster, class, n_samples)`` of each pair in the best one-to-one map.

    The map :func:`clustering_accuracy` scores: the Hungarian algorithm on the
    contingency table between classes and clusters.
    """
    counts = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    classes, clusters = np.unique(labels_true), np.unique(labels_pred)
    return [
        (clusters[c], classes[r], int(counts[r, c]))
        for r, c in zip(rows, cols, strict=True)
    ]
