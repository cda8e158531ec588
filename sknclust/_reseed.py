"""Re-seeding: starved clusters, and classes split between two clusters.

A cluster that loses (nearly) all its points during training leaves two
classes to share another cluster; the largest cluster is the likeliest to
hold two. As in split-and-merge EM, and as k-means relocates an empty
centroid, the starved cluster is re-seeded with one half of the largest.

The opposite failure, one class split between two clusters while two others
share one, starves no cluster; on images it shows in how often the rows'
warps cross between the two halves (:func:`view_swap_rate`,
:func:`redundant_pair`).
"""

import numpy as np
import torch

# A cluster holding less than this share of 1/K of the check rows is starved.
STARVED = 0.2
# Two clusters whose rows' views land in each other at this rate (a share of
# both clusters' views) hold one class between them ...
REDUNDANT = 0.03
# ... and at least this many times the rate of either with any third one.
# What two classes swap depends on the data (a warp blurs an 8x8 digit more
# than a 16x16 one: up to 10% on digits' images, under 1% on USPS). Two
# similar classes swap up to about twice what either swaps with a third; the
# two halves of one class five to over ten times (traces on digits, USPS and
# MNIST).
STANDS_OUT = 8.0
# Epochs a re-seeded cluster is left to settle before the next check.
SETTLE = 2
# None is re-seeded for redundancy in the last TRIAL share of the epochs; a
# re-seed on trial (neighbour views) is judged after that share.
TRIAL = 0.1


def starved_pairs(labels, n_clusters):
    """``(starved, donor)`` cluster pairs: each starved cluster with a large one.

    Donors are the largest clusters that are not starved, largest first; a
    donor needs at least two members to be split.
    """
    share = torch.bincount(labels, minlength=n_clusters) / max(len(labels), 1)
    starved = share < STARVED / n_clusters
    if not starved.any():
        return []
    targets = torch.nonzero(starved).flatten().tolist()
    donors = share.masked_fill(starved, -1).argsort(descending=True).tolist()
    pairs = []
    for k, j in zip(targets, donors, strict=False):
        if starved[j] or int((labels == j).sum()) < 2:
            break
        pairs.append((k, j))
    return pairs


def split_axis(points, n_iter=10):
    """Centre of ``points``, the unit axis between their two-means halves, and
    which points fall on the axis' positive side.

    The halves start from the sign of the first principal component.
    """
    centre = points.mean(0)
    centred = points - centre
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    side = centred @ vh[0] > 0
    for _ in range(n_iter):
        if side.all() or not side.any():
            break
        a, b = centred[side].mean(0), centred[~side].mean(0)
        side = ((centred - a) ** 2).sum(1) < ((centred - b) ** 2).sum(1)
    if side.all() or not side.any():
        return centre, vh[0], centred @ vh[0] > 0
    gap = centred[side].mean(0) - centred[~side].mean(0)
    return centre, gap / gap.norm().clamp_min(1e-12), side


def split_head(head, h, k, j):
    """Give logit ``k`` of a linear ``head`` one half of cluster ``j``.

    ``h`` holds the head's inputs for the members of cluster ``j``. Rows
    ``k`` and ``j`` of the head become row ``j`` tilted apart along the axis
    between the members' two-means halves, by about one standard deviation
    of logit ``j`` per standard deviation along the axis.
    """
    centre, axis, _ = split_axis(h)
    spread = ((h - centre) @ axis).std().clamp_min(1e-12)
    step = (h @ head.weight[j] + head.bias[j]).std() / spread
    head.weight[k] = head.weight[j] + step * axis
    head.bias[k] = head.bias[j] - step * (centre @ axis)
    head.weight[j] -= step * axis
    head.bias[j] += step * (centre @ axis)


def view_swap_rate(labels, view_labels, n_clusters) -> torch.Tensor:
    """How often rows of two clusters and their views land in each other.

    Entry ``(a, b)`` counts rows of ``a`` whose view lands in ``b`` and rows
    of ``b`` whose view lands in ``a``, as a share of both clusters' rows.
    """
    crossings = torch.bincount(
        labels * n_clusters + view_labels, minlength=n_clusters**2
    ).reshape(n_clusters, n_clusters)
    sizes = torch.bincount(labels, minlength=n_clusters)
    return (crossings + crossings.T) / (sizes[:, None] + sizes[None, :]).clamp_min(1)


def redundant_pair(rate):
    """The pair of clusters that hold one class between them, or None.

    The two halves of a class give themselves away: a warp of a row crosses
    the arbitrary boundary between them far more often than between two
    classes. Returns the pair with the highest view-swap ``rate`` (a symmetric
    matrix, see :func:`view_swap_rate`) among those that reach ``REDUNDANT``
    and ``STANDS_OUT`` times the rate of either cluster with any third one.
    With fewer than three clusters there is no third one to compare with,
    and no cluster to re-seed from: None.
    """
    rate = np.array(rate, dtype=float)
    if rate.shape[0] < 3:
        return None
    np.fill_diagonal(rate, 0)
    best = None
    for a, b in zip(*np.nonzero(np.triu(rate >= REDUNDANT)), strict=True):
        others = np.delete(rate[[a, b]], [a, b], axis=1)
        if rate[a, b] >= STANDS_OUT * others.max(initial=0):
            if best is None or rate[a, b] > rate[best]:
                best = (int(a), int(b))
    return best


def merge_plan(rate, labels, n_clusters):
    """``(k, partner, j)``: two clusters that hold one class, and a donor.

    The pair is :func:`redundant_pair` of the view-swap ``rate``; ``k`` is
    its smaller cluster under ``labels`` (the assignments of the check rows),
    which joins ``partner`` and is re-seeded from ``j``, the largest other
    cluster: the likeliest to hold two classes. None when there is no such
    pair or ``j`` has fewer than two members to split.
    """
    pair = redundant_pair(rate.cpu().numpy())
    if pair is None:
        return None
    a, b = pair
    sizes = torch.bincount(labels, minlength=n_clusters)
    k, partner = (a, b) if sizes[a] <= sizes[b] else (b, a)
    others = sizes.clone()
    others[[k, partner]] = -1
    j = int(others.argmax())
    if int(sizes[j]) < 2:
        return None
    return k, partner, j
