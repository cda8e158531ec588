"""sknclust: deep clustering estimators that drop into scikit-learn."""

from sknclust import datasets, metrics
from sknclust._deep_kmeans import DeepKMeans
from sknclust._gmvae import GMVAEClustering

__version__ = "0.1.0"

__all__ = ["DeepKMeans", "GMVAEClustering", "datasets", "metrics", "__version__"]
