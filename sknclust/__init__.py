"""sknclust: deep clustering estimators that drop into scikit-learn."""

from sknclust import datasets, metrics
from sknclust._deep_kmeans import DeepKMeans
from sknclust._gmvae import GMVAEClustering
from sknclust._neural_mixture import NeuralMixtureEM

__version__ = "0.1.0"

__all__ = [
    "DeepKMeans",
    "GMVAEClustering",
    "NeuralMixtureEM",
    "datasets",
    "metrics",
    "__version__",
]
