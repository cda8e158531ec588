"""
=====================================================
Semi-supervised clustering and sampling with a GMVAE
=====================================================

:class:`~sknclust.GMVAEClustering` is a variational autoencoder whose latent
space is a mixture of Gaussians, one per cluster. Given a few labelled rows, it
ties each cluster to a class and uses the labels to guide the rest; as a
generative model, it then draws new images of any cluster with
:meth:`~sknclust.GMVAEClustering.sample`.
"""

# %%
# Label five images per digit
# ---------------------------
# The labels go to ``fit`` in one array with ``-1`` for the unlabelled rows,
# the convention of :mod:`sklearn.semi_supervised`. Here 50 of the 1797 digits
# keep their label.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sknclust import GMVAEClustering

X, y = load_digits(return_X_y=True)

rng = np.random.default_rng(0)
y_partial = np.full(len(y), -1)
for digit in range(10):
    known = rng.choice(np.flatnonzero(y == digit), size=5, replace=False)
    y_partial[known] = digit
print(f"{np.sum(y_partial >= 0)} labelled rows, {np.sum(y_partial < 0)} unlabelled")

# %%
# Fit
# ---
# ``max_epochs=20`` keeps this page quick to build; the default
# (``max_epochs=None``) trains for about 4,000 optimiser steps, about 140
# epochs on digits, and does better.
gmvae = GMVAEClustering(
    n_clusters=10, image_shape=(8, 8), max_epochs=20, random_state=0
)
gmvae.fit(X, y_partial)
print("classes_:", gmvae.classes_)

# %%
# After a semi-supervised fit, cluster ``k`` stands for class
# ``classes_[k]``, and ``predict`` returns the class labels themselves, so
# they compare with ``y`` directly.
pred = gmvae.predict(X)
unlabelled = y_partial == -1
print(
    f"accuracy on the unlabelled rows: {np.mean(pred[unlabelled] == y[unlabelled]):.3f}"
)

# %%
# Without labels, the clusters come out in an arbitrary order and are scored
# with :func:`~sknclust.metrics.clustering_accuracy` instead (see the quick
# start example). A ``y`` without any ``-1`` is ignored by ``fit``, so a
# cross-validation that passes the full labels along does not leak them into
# the model.

# %%
# Draw new digits
# ---------------
# :meth:`~sknclust.GMVAEClustering.sample` draws latent codes from one
# cluster's Gaussian and decodes them. After the semi-supervised fit,
# ``cluster`` is a class label, and the returned labels are classes too. Each
# row of the figure shows eight drawings of one digit; an integer
# ``random_state`` makes them the same on every call.
n_draws = 8
fig, axes = plt.subplots(10, n_draws, figsize=(n_draws * 0.8, 10 * 0.8))
for row, digit in enumerate(gmvae.classes_):
    images, labels = gmvae.sample(n_draws, cluster=digit)
    assert np.all(labels == digit)
    for col in range(n_draws):
        ax = axes[row, col]
        ax.imshow(images[col].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(str(digit), rotation=0, labelpad=10)
fig.suptitle("GMVAEClustering.sample(8, cluster=digit)")
fig.tight_layout()
plt.show()
