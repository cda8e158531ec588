"""Network building blocks: MLP stacks and a small convolutional encoder/decoder."""

import math

import torch
from torch import nn


def mlp(sizes, *, last_activation=False) -> nn.Sequential:
    """Fully connected ReLU stack through ``sizes``; the last layer is linear.

    Parameters
    ----------
    sizes : sequence of int
        Widths from the input to the output, e.g. ``[784, 500, 10]``.
    last_activation : bool, default=False
        Also put a ReLU after the last layer.

    Returns
    -------
    network : torch.nn.Sequential
        Linear layers with ReLUs between them.
    """
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _halved(size, times):
    sizes = [size]
    for _ in range(times):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions, then a linear map of the flattened maps.

    Takes flattened image rows and reshapes them to ``image_shape`` itself, so the
    rest of the package handles images as plain feature vectors.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of the flattened input rows.
    out_dim : int
        Size of the output.
    channels : tuple of int, default=(32, 64, 128)
        Output channels of the convolutions; each halves the height and width.
    """

    def __init__(self, image_shape, out_dim, channels=(32, 64, 128)):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c, h, w = self.image_shape
        layers = []
        for c_in, c_out in zip((c, *channels[:-1]), channels, strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        hs, ws = _halved(h, len(channels)), _halved(w, len(channels))
        self.feature_shape = (channels[-1], hs[-1], ws[-1])
        self.linear = nn.Linear(math.prod(self.feature_shape), out_dim)

    def forward(self, x):
        x = x.reshape(-1, *self.image_shape)
        return self.linear(self.conv(x).flatten(1))


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: linear map, then transposed convolutions.

    Output padding is chosen per layer so the output has exactly ``image_shape``.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of the output; rows come out flattened.
    in_dim : int
        Size of the input.
    channels : tuple of int, default=(32, 64, 128)
        The encoder's channels, which the transposed convolutions run through in
        reverse.
    """

    def __init__(self, image_shape, in_dim, channels=(32, 64, 128)):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c, h, w = self.image_shape
        hs, ws = _halved(h, len(channels)), _halved(w, len(channels))
        self.feature_shape = (channels[-1], hs[-1], ws[-1])
        self.linear = nn.Linear(in_dim, math.prod(self.feature_shape))
        layers = []
        outs = (*reversed(channels[:-1]), c)
        for i, (c_in, c_out) in enumerate(zip(reversed(channels), outs, strict=True)):
            level = len(channels) - i
            pad = (hs[level - 1] - 2 * hs[level] + 1, ws[level - 1] - 2 * ws[level] + 1)
            layers.append(
                nn.ConvTranspose2d(
                    c_in, c_out, 3, stride=2, padding=1, output_padding=pad
                )
            )
            if c_out != c:
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        x = torch.relu(self.linear(z)).reshape(-1, *self.feature_shape)
        return self.deconv(x).flatten(1)


class Autoencoder(nn.Module):
    """Encoder/decoder pair over flattened rows.

    ``forward`` returns ``(embedding, reconstruction)``.

    Parameters
    ----------
    n_features : int
        Size of the input rows.
    hidden_dims : tuple of int
        Widths of the MLP encoder's hidden layers; the decoder mirrors them.
    embedding_dim : int
        Size of the embedding.
    image_shape : tuple of int, default=None
        ``(channels, height, width)``: use :class:`ConvEncoder` and
        :class:`ConvDecoder` instead of the MLPs.
    """

    def __init__(self, n_features, hidden_dims, embedding_dim, image_shape=None):
        super().__init__()
        if image_shape is None:
            self.encoder = mlp([n_features, *hidden_dims, embedding_dim])
            self.decoder = mlp([embedding_dim, *reversed(hidden_dims), n_features])
        else:
            self.encoder = ConvEncoder(image_shape, embedding_dim)
            self.decoder = ConvDecoder(image_shape, embedding_dim)

    def forward(self, x):
        z = self.encoder(x)
        return z, self.decoder(z)
