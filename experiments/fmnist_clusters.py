"""Fashion-MNIST with 4 coarse cluster tickets on the paper's GhostNet: the offline stand-in for Table 1's
CIFAR-100 (8 clusters) rows.

    python -m experiments.fmnist_clusters --reduced --seeds 3   # what docs/results/fmnist_ghostnet.md reports
    python -m experiments.fmnist_clusters --seeds 3             # the paper's schedule on all of Fashion-MNIST
    python -m experiments.fmnist_clusters --reduced --clusters kmeans   # label-free clusters instead of the table
    python -m experiments.fmnist_clusters --quick               # CI-sized

Clusters (:data:`rtl_jax.data.clusters.FASHION_MNIST_COARSE`): tops {T-shirt/top, Pullover, Coat, Shirt},
bottoms/dresses {Trouser, Dress}, footwear {Sandal, Sneaker, Ankle boot}, bags {Bag}: 4 tickets whose test
prevalence is 40 / 20 / 30 / 10% (CIFAR-100's clusters: 4 to 28%). ``--clusters kmeans`` derives the
class → cluster table without cluster labels instead: k-means (``--num-clusters``, default 4) over each
class's mean of the first ``--cluster-dim`` (default 32) principal components of the training images
(:func:`rtl_jax.data.clusters.cluster_classes_from_embeddings`, ``--cluster-seed``).

The single-mask IMP baseline is a 10-way classifier whose predictions are mapped to clusters through the
table (as for CIFAR-100, where it predicts the 100 classes). Configs: full = the paper's CIFAR-100
schedule (batch 256) on all of Fashion-MNIST (about a day on 2 free CPU cores); ``--reduced`` = the CPU-sized schedule
of :func:`experiments.fmnist_classes.reduced_config`; ``--quick`` = CI.
"""
from __future__ import annotations

import sys

from experiments import common, fmnist_classes
from experiments import rtl as rtl_exp
from experiments.cifar10 import paper_config, quick_vision_config, vision_main
from rtl_jax.data import clusters as clusters_lib


def coarse_subsets() -> rtl_exp.SubsetConfig:
    """The 4 coarse clusters as ``SubsetConfig(kind="table")`` (validated to cover each class once)."""
    table, names = clusters_lib.fashion_mnist_coarse_table()
    return rtl_exp.SubsetConfig(kind="table", table=table, names=names)


def full_config() -> rtl_exp.RTLExperiment:
    """The paper's CIFAR-100 schedule (batch 256) on all of Fashion-MNIST with the 4 coarse clusters."""
    return paper_config(common.DataConfig(name="fashion_mnist"), batch_size=256, subsets=coarse_subsets())


def reduced_config() -> rtl_exp.RTLExperiment:
    """The CPU-sized schedule of :func:`experiments.fmnist_classes.reduced_config` with the 4 clusters."""
    return fmnist_classes.reduced_config(subsets=coarse_subsets())


def quick_config() -> rtl_exp.RTLExperiment:
    """CI: 20 training and 10 test images per class, batch 20, 1 epoch per phase, 2 rounds of 50%."""
    return quick_vision_config(common.DataConfig(name="fashion_mnist", train_per_class=20, test_per_class=10),
                               subsets=coarse_subsets())


def main(argv=None) -> int:
    return vision_main(argv, experiment="fmnist_clusters", full=full_config, quick=quick_config,
                       reduced=reduced_config, clusters=True, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
