"""Loaders for the offline image benchmarks (MNIST, USPS).

Nothing is downloaded: the files are read from a local folder (see
:func:`get_data_home`) and checked against their published checksums.
"""

from sknclust.datasets._base import get_data_home
from sknclust.datasets._mnist import load_mnist
from sknclust.datasets._usps import load_usps

__all__ = ["get_data_home", "load_mnist", "load_usps"]
