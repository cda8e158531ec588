"""
=============================================
Save on one device, load on another
=============================================

A fitted estimator is saved with :mod:`joblib` (or :mod:`pickle`) like any
scikit-learn estimator, and the file does not depend on where the network was
trained: a model fitted on a GPU loads on a laptop without one. This example
fits on the best device available, saves the model, loads it back and checks
that the loaded model predicts the same clusters.
"""

# %%
# Fit on the best device available
# --------------------------------
# ``device="auto"``, the default, trains on a CUDA GPU when there is one, then
# on Apple's MPS, and on the CPU otherwise; ``device_`` tells which one was
# used. ``max_epochs=10`` keeps this page quick to build; leave it out in your
# own code to get the default training length.
import tempfile
import warnings
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sknclust import NeuralMixtureEM

X, y = load_digits(return_X_y=True)
X_train, X_new = train_test_split(X, test_size=200, random_state=0)

model = NeuralMixtureEM(
    n_clusters=10, image_shape=(8, 8), max_epochs=10, device="auto", random_state=0
).fit(X_train)
print("trained on:", model.device_)

# %%
# Save
# ----
# The network is copied to the CPU inside the file, so the file is the same
# whichever device trained it. A temporary folder stands in for wherever you
# keep your models.
folder = tempfile.TemporaryDirectory()
path = Path(folder.name) / "digits_nmm.joblib"
joblib.dump(model, path)
print(f"saved {path.name}: {path.stat().st_size / 1e6:.1f} MB")

# %%
# Load, here or on another machine
# --------------------------------
# On loading, the network goes back to the device in ``device_`` when that
# device is present. When it is not, for instance a model trained on a GPU
# server and loaded on a laptop, the network stays on the CPU, ``device_``
# becomes ``"cpu"`` and a :class:`UserWarning` says so; everything else works
# as before. The warning is recorded here to show it when it happens. As with
# any pickle, load only files you trust, with the versions of sknclust,
# PyTorch and scikit-learn that saved them.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    loaded = joblib.load(path)
folder.cleanup()

print("loaded on:", loaded.device_)
for warning in caught:
    print("warning:", warning.message)
if model.device_ == "cpu":
    print("No GPU here: the model was trained and loaded on the CPU.")
elif loaded.device_ == model.device_:
    print(f"{model.device_} is present here, so the network is back on it.")

# %%
# The loaded model predicts as the original
# -----------------------------------------
# Both models assign the 200 images that neither saw during training.
# The soft assignments agree to floating-point precision (across devices,
# up to the small differences of their arithmetic), and so do the clusters.
proba, proba_loaded = model.predict_proba(X_new), loaded.predict_proba(X_new)
pred_loaded = loaded.predict(X_new)
print("largest difference in predict_proba:", np.abs(proba - proba_loaded).max())
print("same clusters:", np.array_equal(model.predict(X_new), pred_loaded))

fig, axes = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 1.4]})
axes[0].scatter(proba.ravel(), proba_loaded.ravel(), s=6, alpha=0.5)
axes[0].plot([0, 1], [0, 1], color="gray", lw=0.8)
axes[0].set_xlabel(f"predict_proba, original ({model.device_})")
axes[0].set_ylabel(f"predict_proba, loaded ({loaded.device_})")
axes[0].set_title("Soft assignments of new images")

# New images grouped by the cluster the loaded model gives them.
axes[1].set_axis_off()
axes[1].set_title("New images by cluster (loaded model)")
grid = np.ones((10 * 9, 8 * 9))
for k in range(10):
    members = np.flatnonzero(pred_loaded == k)[:8]
    for col, i in enumerate(members):
        grid[k * 9 : k * 9 + 8, col * 9 : col * 9 + 8] = 1 - X_new[i].reshape(8, 8) / 16
axes[1].imshow(grid, cmap="gray", extent=(0, 8 * 9, 10 * 9, 0))
for k in range(10):
    axes[1].text(-2, k * 9 + 4.5, str(k), ha="right", va="center", fontsize=8)
fig.tight_layout()
plt.show()
