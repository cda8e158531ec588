"""sknclust: deep clustering estimators that drop into scikit-learn."""

from sknclust import datasets, metrics
from sknclust._deep_kmeans import DeepKMeans

__version__ = "0.1.0"

__all__ = ["DeepKMeans", "datasets", "metrics", "__version__"]
