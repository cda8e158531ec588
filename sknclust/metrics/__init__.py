"""Clustering metrics that scikit-learn does not provide.

For NMI and ARI use :func:`sklearn.metrics.normalized_mutual_info_score` and
:func:`sklearn.metrics.adjusted_rand_score` directly.
"""

from sknclust.metrics._clustering import clustering_accuracy

__all__ = ["clustering_accuracy"]
