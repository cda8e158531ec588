"""Assemble ``docs/benchmarks.md`` from the sections in ``benchmarks/results/``.

Each benchmark script writes its own markdown section (with the command,
machine, seeds and date beside its tables); this script only concatenates them
in a fixed order and copies the figures next to the page.

    python benchmarks/make_report.py
"""

import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path("benchmarks/results")
DOCS = Path("docs")
ORDER = [
    "benchmark_digits.md",
    "benchmark_digits_heldout.md",
    "benchmark_usps.md",
    "benchmark_usps_augment.md",
    "benchmark_mnist.md",
    "benchmark_mnist_augment.md",
    "engine.md",
    "gmvae_digits.md",
    "gmvae_digits_consistency_1.0.md",
    "gmvae_digits_200_epochs.md",
    "gmvae_digits_200_epochs_heldout.md",
    "gmvae_digits_full_epochs.md",
    "gmvae_digits_full_epochs_heldout.md",
    "selection_gmvae_digits_full_epochs.md",
    "gmvae_digits_early_stopping_one_run.md",
    "gmvae_digits_n_init5.md",
    "selection_gmvae_digits_n_init5.md",
    "selection_gmvae_digits_n_init10.md",
    "gmvae_digits_consistency_4.0.md",
    "gmvae_digits_neighbors.md",
    "gmvae_usps.md",
    "gmvae_usps_n_init5.md",
    "gmvae_usps_full_epochs_seed0.md",
    "gmvae_usps_full_epochs_seed1.md",
    "gmvae_usps_full_epochs_seed2.md",
    "gmvae_usps_full_epochs_seed3.md",
    "gmvae_usps_full_epochs_seed4.md",
    "selection_gmvae_usps.md",
    "selection_gmvae_usps_seed3.md",
    "selection_gmvae_usps_seed4.md",
    "gmvae_usps_consistency_4.0.md",
    "gmvae_mnist_consistency_unsupervised.md",
    "gmvae_mnist_unsupervised.md",
    "gmvae_mnist_consistency_image_views_unsupervised.md",
    "gmvae_mnist_neighbors_unsupervised.md",
    "gmvae_mnist_autoencoder_neighbors_unsupervised.md",
    "gmvae_mnist_reference_seed0_unsupervised.md",
    "gmvae_mnist_reference_seed1_unsupervised.md",
    "gmvae_mnist_reference_seed2_unsupervised.md",
    "gmvae_mnist_semi.md",
    "neural_mixture_digits_warmup_split.md",
    "neural_mixture_digits_agreement.md",
    "selection_digits.md",
    "neural_mixture_digits.md",
    "neural_mixture_digits_learned.md",
    "neural_mixture_digits_shrinkage.md",
    "neural_mixture_usps_warmup_split.md",
    "neural_mixture_usps_consensus.md",
    "selection_usps.md",
    "neural_mixture_usps.md",
    "neural_mixture_usps_n_init5.md",
    "neural_mixture_usps_n_init5_heldout.md",
    "neural_mixture_usps_one_run.md",
    "neural_mixture_usps_uniform_one_run.md",
    "neural_mixture_usps_shrinkage.md",
    "neural_mixture_mnist_warmup_split.md",
    "neural_mixture_mnist_warmup_split_two_threads.md",
    "neural_mixture_mnist_warmup_split_seed3.md",
    "neural_mixture_mnist_warmup_split_seed4.md",
    "neural_mixture_mnist_shrinkage_seed0.md",
    "neural_mixture_mnist_shrinkage_seed1.md",
    "neural_mixture_mnist_shrinkage_seed2.md",
    "neural_mixture_mnist_uniform_reseed_seed0.md",
    "neural_mixture_mnist_uniform_reseed_seed2.md",
    "neural_mixture_mnist_split_above_seed0.md",
    "neural_mixture_mnist_split_above_seed1.md",
    "neural_mixture_mnist_split_above_seed2.md",
    "neural_mixture_mnist_one_thread_avx2_seed0.md",
    "neural_mixture_mnist_one_thread_avx2_seed1.md",
    "neural_mixture_mnist_one_thread_avx2_seed2.md",
    "neural_mixture_mnist_split_above_one_thread_avx2_seed0.md",
    "neural_mixture_mnist_split_above_one_thread_avx2_seed1.md",
    "neural_mixture_mnist_split_above_one_thread_avx2_seed2.md",
    "neural_mixture_mnist_one_thread_seed2.md",
    "neural_mixture_mnist_split_above_one_thread_seed2.md",
    "neural_mixture_mnist_shrinkage_one_thread_seed0.md",
    "neural_mixture_mnist_shrinkage_one_thread_seed2.md",
    "neural_mixture_mnist_shrinkage_split_above_seed2.md",
    "neural_mixture_mnist.md",
    "neural_mixture_mnist_n_init3.md",
    "selection_mnist_seed0.md",
    "neural_mixture_mnist_rerun_seed0.md",
    "neural_mixture_mnist_rerun_seed1.md",
    "neural_mixture_mnist_rerun_seed2.md",
    "neural_mixture_mnist_batch512_seed0.md",
    "neural_mixture_mnist_batch512_seed1.md",
    "neural_mixture_mnist_batch512_seed2.md",
    "neural_mixture_mnist_flat_select.md",
    "neural_mixture_mnist_flat_select_heldout.md",
    "neural_mixture_mnist_flat_select5.md",
    "neural_mixture_mnist_flat_select5_seed2.md",
    "neural_mixture_mnist_flat_select5_seed3.md",
    "neural_mixture_mnist_flat_select5_seed4.md",
    "neighbor_purity_mnist.md",
    "neighbor_purity_digits.md",
    "neural_mixture_mnist_flat_autoencoder_seed0.md",
    "neural_mixture_mnist_flat_autoencoder_seed1.md",
    "neural_mixture_mnist_flat_autoencoder_seed2.md",
    "neural_mixture_mnist_flat_autoencoder_seed3.md",
    "neural_mixture_mnist_flat_autoencoder_seed4.md",
    "neural_mixture_mnist_flat_autoencoder_select_seed0.md",
    "neural_mixture_mnist_flat_autoencoder_select_seed1.md",
    "neural_mixture_mnist_flat_autoencoder_select_seed2.md",
    "neural_mixture_mnist_flat_autoencoder_select_seed3.md",
    "neural_mixture_mnist_flat_autoencoder_select_two_threads_seed4.md",
    "neural_mixture_mnist_flat_autoencoder_select_two_threads_seed5.md",
    "neural_mixture_mnist_flat_shrinkage.md",
    "neural_mixture_mnist_flat_neighbors_learned.md",
    "neural_mixture_mnist_flat_neighbors.md",
    "neural_mixture_mnist_flat_neighbors_heldout.md",
    "neural_mixture_mnist_flat_neighbors_40_epochs_seed0.md",
    "neural_mixture_mnist_flat_neighbors_40_epochs_seed1.md",
    "neural_mixture_mnist_flat_neighbors_40_epochs.md",
    "neural_mixture_mnist_flat_learned.md",
    "neural_mixture_mnist_flat.md",
    "neural_mixture_mnist_flat_uniform.md",
    "neural_mixture_mnist_mlp.md",
    "neural_mixture_reseeding_blobs.md",
    "projective.md",
]

HEADER = """# Benchmarks

Every figure on this page was produced by a script in `benchmarks/`; each
section names the command, machine, seeds and date that produced it. Rerun a
script and then `python benchmarks/make_report.py` to refresh the page. The
clustering sections come from `benchmarks/run_clustering.py` (one family of
estimators per report), the GMVAE MNIST sections from
`benchmarks/run_gmvae_mnist.py`.

## Where the targets stand

`make_report.py` reads each result from the per-seed rows of the sections
below: the mean ± standard deviation over seeds, or the largest or smallest
value of any seed, pooling the seeds of several sections where a result
names more than one. The last digit can differ from a section's own summary,
which averages unrounded values.

<standing>
## How the fits ran

The target machine has two CPU cores. Unless the table below says
otherwise, a section ran with one torch thread while one other benchmark ran
on the second core. Fit times of sections that shared the cores with more
jobs are high.

<conditions>
Thread counts change floating-point summation order, so a rerun matches a
section only with the same `--threads`, and only on the same kind of CPU:
its vector extensions choose the matrix-product kernels (see
Reproducibility in the user guide). Machine lines name the CPU from
2026-12-02 on; the earlier ones give only the kernel build (`fc-v595`,
`fc-v857`, `fc-v1045`), which does not identify the CPU: `fc-v1045` lines
name an Intel Xeon with AMX in some sections and an AMD EPYC with AVX-512
or with AVX2 in others (`fc-v1098`: an AMD EPYC with AVX-512, where
seed 0 of MNIST repeated its `fc-v1045` AVX-512 figures to the last digit).
The CPUs behind the older lines were not recorded, and seeded
reruns on the Xeon gave other per-seed figures than on `fc-v857`, so a
rerun need not repeat the per-seed figures of a section from another
machine.

## Settings of each section

NeuralMixtureEM on MNIST ran the default `"batchnorm"` formulation only.
The `_warmup_split` sections (with the held-out MNIST seeds,
`_warmup_split_seed3` and `_seed4`), the `neural_mixture_mnist_shrinkage`
sections (the registry's MNIST settings with `weight_shrinkage=0.5`) and
`neural_mixture_reseeding_blobs` are the only NeuralMixtureEM sections with
learned weights from the current code, which re-seeds starved components
during the warm-up too; the other sections with learned weights ran with
re-seeding after the warm-up only, and those with uniform weights
(`update_weights=False`) are unaffected.
Per-dataset estimator settings are in `sknclust/_registry.py`.

In the registry, DeepKMeans uses image views (`augment=True`) with the `"alternating"`
strategy only; `"soft"` and `"gumbel"` keep the settings without views (see
`sknclust/_registry.py`). So in the sections `benchmark_usps` and
`benchmark_mnist` (every strategy, with KMeans and GaussianMixture) the
`"soft"` and `"gumbel"` rows use the current settings, while the
`"alternating"` rows predate the views; these parameters restore their
settings: `--param architecture=auto --param augment=False --param
pretrain_epochs=50 --param max_epochs=20` on USPS, `--param augment=False
--param pretrain_epochs=20` on MNIST. The `_augment` sections after them
have `"alternating"` with the current settings (a fit takes 8.5 minutes on
USPS and 12 to 14 on MNIST). On digits all three use the current settings.

NeuralMixtureEM learns its mixing weights (`update_weights=True`) and, of
several runs a fit, keeps the one the other runs agree with most
(`run_selection="agreement"`); the registry runs five runs a fit on digits
and USPS. `neural_mixture_digits_agreement` and
`neural_mixture_usps_consensus` have the current settings, and so does
`neural_mixture_mnist_n_init3` with the three shorter runs its command
sets. Sections run
before the agreement rule kept the run with the lowest loss; add
`--param run_selection=loss` to their commands to restore them:
`neural_mixture_digits_learned`, `neural_mixture_usps_n_init5(_heldout)`,
`neural_mixture_usps` (also `--param n_init=3`) and `neural_mixture_digits`
(also `--param update_weights=False`: it ran with uniform weights, as the
registry then set for digits). The one-run sections do not depend on the
rule: `neural_mixture_usps_one_run`, `neural_mixture_usps_uniform_one_run`
(uniform weights by its command), `neural_mixture_mnist` and
`neural_mixture_mnist_mlp`. `neural_mixture_mnist_flat` predates learned
weights; `--param update_weights=False` restores it (as in
`neural_mixture_mnist_flat_uniform`, one seed with the current code).
`neural_mixture_mnist_flat_neighbors` uses neighbour views
(`views="neighbors"`), which none of the earlier sections had; its command
sets all its parameters, and so do those of its held-out seeds
(`_heldout`) and of the 40-epoch runs (`_40_epochs_seed0`, `_seed1`, and
`_40_epochs` for seed 2), one section a seed because they ran side by side.
`neural_mixture_mnist_flat_select` (and its held-out seeds, `_heldout`) has
the same settings with three runs of 12 epochs a fit, kept by the lowest
loss; its command sets them all. `neural_mixture_mnist_flat_select5`
(seeds 0 and 1) and `_select5_seed2`, `_seed3` and `_seed4` run five such
runs a fit; the first three runs of each fit are those of
`neural_mixture_mnist_flat_select`, as the runs draw from one seeded
stream. `neural_mixture_mnist_flat_autoencoder_seed0` to `_seed4` have
the settings of `neural_mixture_mnist_flat_neighbors` with the neighbours
searched in the embedding of an autoencoder trained for the purpose
(`neighbor_space="autoencoder"`), one section a seed as they ran two at a
time, on the AVX2 machine; seeds 1 and 2 ran under the report names `ae_s1`
and `ae_s2` (their commands say so, and add `verbose=1`, which only prints
progress) and were renamed here; seeds 0, 3 and 4 were run after the
setting was chosen on seeds 1 and 2.
`neighbor_purity_mnist` and `neighbor_purity_digits` come from
`benchmarks/neighbor_purity.py`, which finds the neighbours with the
package's functions in both search spaces, without fitting a clusterer.
`neural_mixture_mnist_flat_autoencoder_select_seed3` adds three runs of 12
epochs a fit kept by the lowest loss, as `neural_mixture_mnist_flat_select`,
to seed 3; `_select_seed0`, `_seed1` and `_seed2` ran the same settings
after it, three at a time;
`neural_mixture_mnist_flat_autoencoder_select_two_threads_seed4` and
`_seed5` ran them on held-out seeds 4 and 5 on two threads, alone.
`neural_mixture_mnist_flat_shrinkage` learns the weights with `weight_shrinkage=0.5` and
`neural_mixture_mnist_flat_neighbors_learned` learns them without
shrinkage (seed 0), both otherwise with the settings of
`neural_mixture_mnist_flat_neighbors`. `neural_mixture_digits_shrinkage`
and `neural_mixture_usps_shrinkage` have the registry's settings (as
`neural_mixture_digits_agreement` and `neural_mixture_usps_consensus`)
with `weight_shrinkage=0.5`. `selection_mnist_seed0` comes from
`benchmarks/run_selection.py` with the registry's MNIST settings and three
runs of 10 epochs (as `neural_mixture_mnist_n_init3`), seed 0 only.
`neural_mixture_mnist_batch512_seed0`, `_seed1` and `_seed2` have the
registry's MNIST settings with batches of 512 instead of 256, one section a
seed because they ran side by side. `neural_mixture_mnist_uniform_reseed_seed0`
and `_seed2` have the registry's MNIST settings with `weight_warmup=1.0`
(uniform weights for the whole fit, still re-seeding at the warm-up's bar);
the run of seed 1 did not finish. `neural_mixture_mnist_split_above_seed0`,
`_seed1` and `_seed2` ran the registry's MNIST settings with
`split_above=1.5` on both threads; in none of them did a component pass
that share (every re-seeding the logs show was of a starved component), so
they are the registry's fits at two threads, and seed 0 repeats
`neural_mixture_mnist_warmup_split_two_threads` to the last digit.
`neural_mixture_mnist_one_thread_avx2_seed0`, `_seed1` and `_seed2` rerun
`neural_mixture_mnist_warmup_split` (seeds 0 to 2, one thread) on the AVX2
machine, with `verbose=1`; seed 2 ran first, beside a GMVAE fit, under the
report name `nme_avx2_seed2` (its command says so) and was renamed here,
and seeds 0 and 1 ran side by side after it.
`neural_mixture_mnist_split_above_one_thread_avx2_seed0`, `_seed1` and
`_seed2` add `split_above=1.5` to them, on the same machine; seeds 1 and
2, where it never fired, repeat them to the last digit.
`neural_mixture_mnist_one_thread_seed2` reruns seed 2 of
`neural_mixture_mnist_warmup_split` on one thread (`verbose=1` only prints
the re-seedings) and repeats it to the last digit on another host with the
same CPU kind; `neural_mixture_mnist_split_above_one_thread_seed2`, run
beside it with `split_above=1.5`, is the same fit again, as a component was
starved after every epoch from the switch to learned weights on, which
leaves the over-full check unused.
`neural_mixture_mnist_shrinkage_one_thread_seed0` and `_seed2` have the
registry's MNIST settings with `weight_shrinkage=0.5` on one thread on the
AVX-512 machine, ran side by side, paired with seeds 0 and 2 of
`neural_mixture_mnist_warmup_split`.
`neural_mixture_mnist_shrinkage_split_above_seed2` adds `split_above=1.5`
to `neural_mixture_mnist_shrinkage_one_thread_seed2`, on the same machine.
`neural_mixture_mnist_rerun_seed0`,
`_seed1` and `_seed2` rerun `neural_mixture_mnist` on the same machine as
them, for a paired comparison.

GMVAEClustering on digits and USPS uses the consistency term with image
views and the MLP (`architecture="mlp"`, `consistency_weight=4.0`, and
`image_shape` (1, 8, 8) or (1, 16, 16)), with five runs a fit kept by
their agreement (`n_init=5`), and every run trains all its epochs
(`n_iter_no_change=None`). `gmvae_digits_full_epochs`,
`selection_gmvae_digits_full_epochs` and
`gmvae_digits_full_epochs_heldout` (seeds 5 to 9, run after the settings
were chosen) have the current digits settings;
`gmvae_digits_early_stopping_one_run` has them with early stopping and one
run a fit (`--param n_init=1 --param n_iter_no_change=10`), on the same
machine. The `gmvae_usps_full_epochs` sections (one a seed, as they ran
side by side, up to four jobs on the two cores) have the current USPS
settings (their command passes `--param n_iter_no_change=None`, which the
registry now sets).
`gmvae_digits_n_init5` and `gmvae_usps_n_init5` have the settings before
that change (early stopping), and
`gmvae_digits_consistency_4.0` and `gmvae_usps_consistency_4.0` have them
with one run a fit (`--param n_init=1`); `gmvae_digits` and `gmvae_usps`
predate them, and `--param consistency_weight=0 --param image_shape=None
--param architecture=auto --param n_init=1` restores them. The
`selection_gmvae_*` sections come from `benchmarks/run_selection.py
--estimator GMVAEClustering`. `gmvae_digits_neighbors` has the digits
settings with neighbour views (`views="neighbors"`) instead of image warps.
`gmvae_digits_consistency_1.0` differs from the current settings by its
weight. On MNIST it uses the consistency term with the tabular views, 40
epochs and the temperature at its floor by epoch 20:
`gmvae_mnist_consistency_unsupervised` has these settings (its command
passes ln 2 / 20 rounded to 0.0346574); `gmvae_mnist_unsupervised`
predates them (`--param consistency_weight=0 --param max_epochs=50 --param
temperature_decay=0.0277259` restores it, ln 2 / 25 rounded), and
`gmvae_mnist_consistency_image_views_unsupervised` tried image views with
the MLP and was stopped after seed 0, as it did worse than the tabular
views. `gmvae_mnist_neighbors_unsupervised` has the MNIST settings
with neighbour views (`views="neighbors"`, 10 neighbours) instead of the
tabular ones, seed 0 only, and `gmvae_mnist_autoencoder_neighbors_unsupervised`
the same with the neighbours searched in an autoencoder's embedding
(`neighbor_space="autoencoder"`; its command adds `verbose=1`, which only
prints progress), seed 0 on the AVX2 machine.
`gmvae_mnist_reference_seed0`, `_seed1` and `_seed2` have the reference's
own settings (no consistency term, batch 64, 100 epochs with no early
stopping, the temperature at its floor by epoch 50), one section a seed
because they ran side by side. The semi-supervised section keeps its own
settings.
"""


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def per_seed(section, column, row=None):
    """Per-seed values of ``column`` in a section's tables, as floats.

    Rows are those whose ``seed`` cell is a number (and whose first cell is
    ``row``, for tables with one row per estimator and seed); a trailing ``%``
    is dropped, so percentages stay percentages.
    """
    values, header = [], None
    for line in (RESULTS / f"{section}.md").read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = cells
            continue
        if set(line) <= set("|- ") or "seed" not in header or column not in header:
            continue
        record = dict(zip(header, cells, strict=False))
        if not record["seed"].isdigit() or (row is not None and cells[0] != row):
            continue
        values.append(float(record[column].rstrip("%")))
    return values


NME, GMVAE = "NeuralMixtureEM[batchnorm]", "GMVAEClustering"
GMVAE_MNIST = ["gmvae_mnist_consistency_unsupervised"]
FLAT = [f"neural_mixture_mnist_flat_autoencoder_select_seed{s}" for s in range(3)]
FLAT_SEED3 = ["neural_mixture_mnist_flat_autoencoder_select_seed3"]
FLAT_HELDOUT = [
    f"neural_mixture_mnist_flat_autoencoder_select_two_threads_seed{s}" for s in (4, 5)
]
FLAT_ONE_RUN = [f"neural_mixture_mnist_flat_autoencoder_seed{s}" for s in range(5)]
MNIST_HELDOUT = [
    "neural_mixture_mnist_warmup_split_seed3",
    "neural_mixture_mnist_warmup_split_seed4",
]
MNIST_TWO_THREADS = [f"neural_mixture_mnist_split_above_seed{s}" for s in range(3)]
MNIST_ONE_THREAD_AVX2 = [
    f"neural_mixture_mnist_one_thread_avx2_seed{s}" for s in range(3)
]
NME_RUNS = [
    "neural_mixture_digits_warmup_split",
    "neural_mixture_usps_warmup_split",
    "neural_mixture_mnist_warmup_split",
    *MNIST_HELDOUT,
    *MNIST_TWO_THREADS,
    *MNIST_ONE_THREAD_AVX2,
    *FLAT,
    *FLAT_SEED3,
    *FLAT_HELDOUT,
    *FLAT_ONE_RUN,
]


@dataclass
class Target:
    """A target, and the per-seed column of the sections it is read from.

    ``summary`` is ``"mean"`` (mean ± std over the pooled seeds), ``"max"`` or
    ``"min"``; the bounds apply to that figure, ``std_at_most`` to the std.
    """

    task: str
    text: str
    sections: list[str]
    column: str
    row: str | None = None
    summary: str = "mean"
    at_least: float | None = None
    at_most: float | None = None
    std_at_most: float | None = None


TARGETS = [
    Target(
        "NeuralMixtureEM, digits",
        "ACC ≥ 0.88, std ≤ 0.03",
        ["neural_mixture_digits_warmup_split"],
        "ACC",
        NME,
        at_least=0.88,
        std_at_most=0.03,
    ),
    Target(
        "NeuralMixtureEM, USPS",
        "ACC ≥ 0.90",
        ["neural_mixture_usps_warmup_split"],
        "ACC",
        NME,
        at_least=0.90,
    ),
    Target(
        "NeuralMixtureEM, MNIST images",
        "ACC ≥ 0.95, one thread beside other jobs (AVX-512)",
        ["neural_mixture_mnist_warmup_split"],
        "ACC",
        NME,
        at_least=0.95,
    ),
    Target(
        "NeuralMixtureEM, MNIST images",
        "ACC ≥ 0.95, one thread beside another job (AVX2)",
        MNIST_ONE_THREAD_AVX2,
        "ACC",
        NME,
        at_least=0.95,
    ),
    Target(
        "NeuralMixtureEM, MNIST images",
        "ACC ≥ 0.95, two threads, alone",
        MNIST_TWO_THREADS,
        "ACC",
        NME,
        at_least=0.95,
    ),
    Target(
        "NeuralMixtureEM, MNIST images",
        "ACC ≥ 0.95, held-out seeds 3 and 4",
        MNIST_HELDOUT,
        "ACC",
        NME,
        at_least=0.95,
    ),
    Target(
        "NeuralMixtureEM, MNIST images",
        "fit ≤ 20 min (two threads, alone)",
        ["neural_mixture_mnist_warmup_split_two_threads", *MNIST_TWO_THREADS],
        "fit [s]",
        NME,
        summary="max",
        at_most=1200,
    ),
    Target(
        "NeuralMixtureEM, MNIST flat vectors",
        "ACC ≥ 0.85 (seeds 0 to 2), three runs a fit",
        FLAT,
        "ACC",
        NME,
        at_least=0.85,
    ),
    Target(
        "NeuralMixtureEM, MNIST flat vectors",
        "ACC ≥ 0.85, seed 3 (where three runs were chosen), three runs a fit",
        FLAT_SEED3,
        "ACC",
        NME,
        at_least=0.85,
    ),
    Target(
        "NeuralMixtureEM, MNIST flat vectors",
        "ACC ≥ 0.85, held-out seeds 4 and 5, three runs a fit (two threads, alone)",
        FLAT_HELDOUT,
        "ACC",
        NME,
        at_least=0.85,
    ),
    Target(
        "NeuralMixtureEM, MNIST flat vectors",
        "fit ≤ 20 min, three runs a fit (two threads, alone)",
        FLAT_HELDOUT,
        "fit [s]",
        NME,
        summary="max",
        at_most=1200,
    ),
    Target(
        "NeuralMixtureEM, MNIST flat vectors",
        "ACC ≥ 0.85 (seeds 0 to 4), one run a fit",
        FLAT_ONE_RUN,
        "ACC",
        NME,
        at_least=0.85,
    ),
    Target(
        "NeuralMixtureEM, every run above",
        "smallest cluster ≥ 1 %",
        NME_RUNS,
        "smallest cluster",
        NME,
        summary="min",
        at_least=1.0,
    ),
    Target("GMVAEClustering, MNIST", "ACC ≥ 0.88", GMVAE_MNIST, "ACC", at_least=0.88),
    Target(
        "GMVAEClustering, MNIST",
        "fit ≤ 20 min",
        GMVAE_MNIST,
        "fit s",
        summary="max",
        at_most=1200,
    ),
    Target(
        "GMVAEClustering, USPS",
        "ACC ≥ 0.78",
        [f"gmvae_usps_full_epochs_seed{seed}" for seed in range(5)],
        "ACC",
        GMVAE,
        at_least=0.78,
    ),
    Target(
        "GMVAEClustering, digits",
        "ACC ≥ 0.85",
        ["gmvae_digits_200_epochs"],
        "ACC",
        GMVAE,
        at_least=0.85,
    ),
    Target(
        "GMVAEClustering, MNIST, 100 labels",
        "test accuracy ≥ 0.95",
        ["gmvae_mnist_semi"],
        "test accuracy",
        at_least=0.95,
    ),
    Target(
        "GMVAEClustering, MNIST",
        "5-NN error ≤ 4 %",
        GMVAE_MNIST,
        "5-NN error (test)",
        summary="max",
        at_most=4.0,
    ),
    Target(
        "GMVAEClustering, MNIST",
        "generation ≥ 80 %",
        GMVAE_MNIST,
        "generation",
        at_least=80.0,
    ),
]

# Sections whose fits ran otherwise than with one torch thread beside one
# other job: (sections, torch threads, other jobs on the two cores).
CONDITIONS = [
    ("every section not listed here", 1, "one"),
    ("`benchmark_digits`, `benchmark_digits_heldout` (DeepKMeans)", 2, "none"),
    ("`neural_mixture_mnist_flat`", 2, "none"),
    ("`neural_mixture_digits`", 1, "none"),
    ("`neural_mixture_mnist_warmup_split_two_threads`", 2, "none"),
    (
        "`neural_mixture_mnist_flat_autoencoder_select_two_threads_seed4` and `_seed5`",
        2,
        "none",
    ),
    (
        "`neural_mixture_mnist_split_above_seed0`, `_seed1` and `_seed2`",
        2,
        "none (seed 2: at times a short test run)",
    ),
    (
        "`neural_mixture_mnist_shrinkage_split_above_seed2`",
        1,
        "none, at times the test suite",
    ),
    ("`gmvae_mnist_semi`", 1, "two: its three fits ran at once"),
    (
        "`neural_mixture_mnist_split_above_one_thread_avx2_seed0`, `_seed1` "
        "and `_seed2`",
        1,
        "two: the three ran at once",
    ),
    (
        "`neural_mixture_mnist_flat_autoencoder_seed1` and `_seed2`",
        1,
        "one, at times a short test run",
    ),
    (
        "`neural_mixture_mnist_flat_autoencoder_select_seed3`",
        1,
        "one, at times the test suite",
    ),
    (
        "`neural_mixture_mnist_flat_autoencoder_select_seed0`, `_seed1` and `_seed2`",
        1,
        "two (the three ran at once), at first a third",
    ),
    (
        "`neural_mixture_mnist_flat_shrinkage`, "
        "`neural_mixture_mnist_flat_neighbors_learned`, the "
        "`neural_mixture_mnist_flat_select5` sections, "
        "`neural_mixture_digits_shrinkage`, `neural_mixture_usps_shrinkage`, "
        "`gmvae_mnist_neighbors_unsupervised`",
        1,
        "one, at times two",
    ),
    (
        "`gmvae_mnist_reference` and `neural_mixture_mnist_batch512` sections",
        1,
        "up to three",
    ),
    (
        "GMVAE `_full_epochs` sections, `gmvae_digits_early_stopping_one_run`",
        1,
        "one to three",
    ),
    (
        "`_warmup_split` sections, `gmvae_digits_200_epochs`, "
        "`gmvae_digits_200_epochs_heldout`",
        1,
        "one to three",
    ),
    (
        "`neural_mixture_mnist_shrinkage_seed0`, `_seed1` and `_seed2`, "
        "`neural_mixture_mnist_warmup_split_seed3` and `_seed4`",
        1,
        "one or two",
    ),
]


def conditions_table():
    lines = [
        "| section | torch threads | other jobs on the two cores |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {where} | {threads} | {jobs} |" for where, threads, jobs in CONDITIONS
    ]
    return "\n".join(lines) + "\n"


def standing_table():
    """Markdown table of each target, the figure read for it and whether it is met."""
    lines = [
        "| estimator and task | target | result | met | seeds | from |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for t in TARGETS:
        values = [v for s in t.sections for v in per_seed(s, t.column, t.row)]
        if not values:
            raise ValueError(f"no {t.column!r} values in {t.sections}")
        unit = " %" if "%" in t.text else ""
        std = None
        if t.summary == "mean":
            value, std = statistics.mean(values), statistics.pstdev(values)
            digits = 1 if unit else 3
            result = f"{value:.{digits}f} ± {std:.{digits}f}{unit}"
        else:
            value = max(values) if t.summary == "max" else min(values)
            shown = (
                f"{value / 60:.1f} min"
                if t.column.startswith("fit")
                else f"{value:g}{unit}"
            )
            result = f"{t.summary} {shown}"
        met = (
            (t.at_least is None or value >= t.at_least)
            and (t.at_most is None or value <= t.at_most)
            and (t.std_at_most is None or std <= t.std_at_most)
        )
        names = ", ".join(f"`{s}`" for s in t.sections)
        lines.append(
            f"| {t.task} | {t.text} | {result} | {'yes' if met else '**no**'} "
            f"| {len(values)} | {names} |"
        )
    return "\n".join(lines) + "\n"


def main():
    names = [n for n in ORDER if (RESULTS / n).exists()]
    names += sorted(p.name for p in RESULTS.glob("*.md") if p.name not in ORDER)
    header = HEADER.replace("<standing>", standing_table())
    parts = [header.replace("<conditions>", conditions_table())]
    for name in names:
        parts.append((RESULTS / name).read_text().rstrip() + "\n")
    for figure in RESULTS.glob("*.png"):
        shutil.copy(figure, DOCS / figure.name)
    (DOCS / "benchmarks.md").write_text("\n".join(parts))
    print(f"wrote {DOCS / 'benchmarks.md'} from {len(names)} section(s)")


if __name__ == "__main__":
    main()
