"""sknclust: deep clustering estimators that drop into scikit-learn."""

from sknclust import datasets, metrics
from sknclust._deep_kmeans import DeepKMeans
from sknclust._gmvae import GMVAEClustering
from sknclust._learned_clustering import LearnedClustering
from sknclust._neural_mixture import NeuralMixtureEM
from sknclust._online_kmeans import OnlineKMeans
from sknclust._projective import (
    ProjectiveClusteringCompressor,
    subspace_dim_for_budget,
    svd_rank_for_budget,
)

__version__ = "0.1.0"

__all__ = [
    "DeepKMeans",
    "GMVAEClustering",
    "LearnedClustering",
    "NeuralMixtureEM",
    "OnlineKMeans",
    "ProjectiveClusteringCompressor",
    "datasets",
    "metrics",
    "subspace_dim_for_budget",
    "svd_rank_for_budget",
    "__version__",
]
