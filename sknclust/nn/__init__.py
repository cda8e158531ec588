"""Torch building blocks shared by the estimators."""

from sknclust.nn._layers import Autoencoder, ConvDecoder, ConvEncoder, mlp

__all__ = ["Autoencoder", "ConvDecoder", "ConvEncoder", "mlp"]
