"""Torch building blocks shared by the estimators."""

from sknclust.nn._augment import image_augment, tabular_augment
from sknclust.nn._factored_embedding import ProjectiveEmbedding, ProjectiveLinear
from sknclust.nn._layers import Autoencoder, ConvDecoder, ConvEncoder, mlp
from sknclust.nn._losses import reconstruction_loss

__all__ = [
    "Autoencoder",
    "ConvDecoder",
    "ConvEncoder",
    "image_augment",
    "mlp",
    "ProjectiveEmbedding",
    "ProjectiveLinear",
    "reconstruction_loss",
    "tabular_augment",
]
