"""
===========================
Quick start: cluster digits
===========================

Cluster scikit-learn's handwritten digits (1797 images of 8x8 pixels) with
:class:`~sknclust.NeuralMixtureEM` and compare the result with
:class:`~sklearn.cluster.KMeans` on the same pixels. The class labels are used
only to score the clusterings, never to fit them.
"""

# %%
# Load the data
# -------------
# Each row of ``X`` is a flattened 8x8 image with pixel values from 0 to 16.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from sknclust import NeuralMixtureEM
from sknclust.metrics import clustering_accuracy

X, y = load_digits(return_X_y=True)
print(X.shape)

# %%
# Fit a deep clustering estimator
# -------------------------------
# ``image_shape=(8, 8)`` says that the rows are images: the estimator then
# scales the pixels to [0, 1], uses a small convolutional network and learns
# from random warps of the images. ``random_state`` makes the fit repeatable.
#
# ``max_epochs=30`` keeps this page quick to build. With the default,
# ``max_epochs=None``, the training length follows from the size of the data
# (100 epochs on digits), which clusters better; the :ref:`benchmarks` page
# gives the results of the defaults.
nmm = NeuralMixtureEM(n_clusters=10, image_shape=(8, 8), max_epochs=30, random_state=0)
labels = nmm.fit_predict(X)

# %%
# :class:`~sklearn.cluster.KMeans` on the raw pixels is the baseline.
kmeans_labels = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(X)

# %%
# Compare with the digit classes
# ------------------------------
# Cluster numbers are arbitrary, so the scores compare partitions:
# :func:`~sknclust.metrics.clustering_accuracy` maps each cluster to one class
# in the best one-to-one way, the adjusted Rand index counts pairs of samples
# grouped alike.
for name, pred in [("NeuralMixtureEM", labels), ("KMeans", kmeans_labels)]:
    print(
        f"{name:>16}: accuracy {clustering_accuracy(y, pred):.3f}, "
        f"ARI {adjusted_rand_score(y, pred):.3f}"
    )

# %%
# Look at the clusters
# --------------------
# The mean image of each cluster shows what it holds; the table below it counts
# the digits of each class (rows) that fall in each cluster (columns).
# ``predict_proba`` gives soft assignments, ``predict`` assigns new images and
# ``transform`` returns the learned embedding.
fig, axes = plt.subplots(2, 10, figsize=(10, 3))
for row, (name, pred) in enumerate(
    [("NeuralMixtureEM", labels), ("KMeans", kmeans_labels)]
):
    for k in range(10):
        ax = axes[row, k]
        ax.imshow(X[pred == k].mean(axis=0).reshape(8, 8), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{np.sum(pred == k)}", fontsize=7, pad=2)
    axes[row, 0].set_ylabel(name, fontsize=8)
fig.suptitle("Mean image of each cluster (title: its size)")
fig.tight_layout()

# %%
counts = np.zeros((10, 10), dtype=int)
np.add.at(counts, (y, labels), 1)
order = np.argmax(counts, axis=0).argsort(kind="stable")  # clusters by main digit

fig, ax = plt.subplots(figsize=(5, 4.5))
ax.imshow(counts[:, order], cmap="Blues")
for i in range(10):
    for j in range(10):
        if counts[i, order[j]]:
            ax.text(j, i, counts[i, order[j]], ha="center", va="center", fontsize=7)
ax.set_xticks(range(10), order)
ax.set_yticks(range(10))
ax.set_xlabel("cluster")
ax.set_ylabel("digit")
ax.set_title("NeuralMixtureEM: digits per cluster")
fig.tight_layout()
plt.show()
