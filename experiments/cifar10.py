"""Table 1, CIFAR-10 rows: RTL with 10 class tickets on the paper's truncated GhostNet (rtl-paper §7.1-7.2).

    python -m experiments.cifar10 --seeds 3                              # the paper's schedule (GPU/TPU: hours)
    python -m experiments.cifar10 --seeds 3 --set data.name=cifar10_pickle   # from cifar-10-batches-py/
    python -m experiments.cifar10 --set prune.target_sparsity=0.95       # Fig. 2 curves to high sparsity
    python -m experiments.cifar10 --quick                                # CI-sized (20 images per class)

Full config = the paper's schedule: ``ghostnet_trunc`` (125,832 prunable conv weights; BN, SE and the
classifier dense), Adam 1e-4 without weight decay, batch 320, 10 pruning epochs per round for every
ticket (Algorithm 1, rewinding to θ0), 10 joint retraining epochs (Algorithm 2) at each of 25/50/75%,
4,096 weights pruned per round (global magnitude; rounds clipped to land on the milestones), single-mask
IMP with 20 epochs per round, the same θ0 for every method. ``--set prune.target_sparsity=0.95`` extends
the search (and so the Fig. 2 curves; ``python -m experiments.analyze RUN_DIR`` draws them) while the
table stays at the milestones 25/50/75%.

Data. CIFAR cannot be downloaded on the project's machines; where it can, either

* TFDS (default ``data.name=cifar10``), prepared once into ``--data-dir`` (needs TensorFlow for the
  download/prepare step only)::

      pip install tensorflow tensorflow-datasets
      python -c "import tensorflow_datasets as tfds; tfds.builder('cifar10', data_dir='data').download_and_prepare()"

* or the python-pickle folder (``--set data.name=cifar10_pickle``)::

      mkdir -p data && curl -L https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz | tar xz -C data
      # -> data/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}

Outputs (under ``--workdir``, default ``runs/``): ``results.md`` in Table 1's layout (BA / precision /
recall / #params at 25/50/75% for RTL, single IMP and multi-model IMP) plus label-free top-1 and a dense
reference; per-level masks for ``experiments.analyze`` (Fig. 2 collapse, Fig. 3 alignment).

This module also holds the helpers that the other vision modules (``experiments.cifar100``,
``experiments.fmnist_classes``, ``experiments.fmnist_clusters``) share: :func:`paper_config`,
:func:`embedding_clusters` and :func:`vision_main` (``--reduced`` and ``--clusters kmeans``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable

from experiments import common
from experiments import rtl as rtl_exp
from rtl_jax import config as config_lib
from rtl_jax.data import clusters as clusters_lib
from rtl_jax.imp import PruneConfig, TrainConfig
from rtl_jax.joint import JointConfig

Factory = Callable[[], rtl_exp.RTLExperiment]

#: The paper's vision optimiser (App. A.2): Adam, lr 1e-4, no weight decay.
PAPER_LR = 1e-4
PAPER_MILESTONES = (0.25, 0.5, 0.75)


def paper_config(data: common.DataConfig, *, batch_size: int,
                 subsets: rtl_exp.SubsetConfig = rtl_exp.SubsetConfig()) -> rtl_exp.RTLExperiment:
    """The paper's vision schedule (rtl-paper §7.1) on ``data`` with ``batch_size`` (320 CIFAR-10, 256 CIFAR-100)."""
    train = TrainConfig(epochs=10, batch_size=batch_size, optimizer="adam", learning_rate=PAPER_LR, weight_decay=0.0)
    return rtl_exp.RTLExperiment(
        data=data,
        model=common.ModelConfig(name="ghostnet_trunc"),
        subsets=subsets,
        batch_size=batch_size,
        search=train,
        joint=JointConfig(epochs=10, optimizer="adam", learning_rate=PAPER_LR, weight_decay=0.0),
        single=dataclasses.replace(train, epochs=20),
        prune=PruneConfig(mode="count", amount=4096, scope="global", target_sparsity=0.75,
                          milestones=PAPER_MILESTONES),
    )


def quick_vision_config(data: common.DataConfig, *,
                        subsets: rtl_exp.SubsetConfig = rtl_exp.SubsetConfig()) -> rtl_exp.RTLExperiment:
    """CI-sized: ``data`` (already reduced per class), batch 20, 1 epoch per phase (2 for single IMP),
    half of the remaining weights pruned per round (two rounds to 75%), Adam 1e-3."""
    train = TrainConfig(epochs=1, batch_size=20, optimizer="adam", learning_rate=1e-3)
    return rtl_exp.RTLExperiment(
        data=data,
        model=common.ModelConfig(name="ghostnet_trunc"),
        subsets=subsets,
        batch_size=20,
        search=train,
        joint=JointConfig(epochs=1, optimizer="adam", learning_rate=1e-3),
        single=dataclasses.replace(train, epochs=2),
        prune=PruneConfig(mode="fraction", amount=0.5, target_sparsity=0.75, milestones=PAPER_MILESTONES),
        label_free_dim=8,
    )


def full_config() -> rtl_exp.RTLExperiment:
    """The paper's CIFAR-10 schedule: TFDS ``cifar10``, 10 class tickets, batch 320."""
    return paper_config(common.DataConfig(name="cifar10"), batch_size=320)


def quick_config() -> rtl_exp.RTLExperiment:
    """CI: 20 training and 10 test images per class of CIFAR-10 (TFDS; ``--set data.name=cifar10_pickle``)."""
    return quick_vision_config(common.DataConfig(name="cifar10", train_per_class=20, test_per_class=10))


def embedding_clusters(cfg: rtl_exp.RTLExperiment, data_dir, *, num_clusters: int, dim: int,
                       seed: int) -> rtl_exp.RTLExperiment:
    """``cfg`` with its subsets replaced by label-free k-means clusters of the classes
    (:func:`rtl_jax.data.clusters.cluster_classes_from_embeddings` on ``cfg.data``'s training images,
    subsampled with seed 0 as seed 0's run does). Subset names list their classes."""
    arrays = common.load_arrays(cfg.data, data_dir, seed=0)
    table = clusters_lib.cluster_classes_from_embeddings(arrays.x_train, arrays.y_train, arrays.num_classes,
                                                         num_clusters, dim=dim, seed=seed)
    names = tuple(f"k{j}: " + ", ".join(n for n, t in zip(arrays.class_names, table, strict=True) if t == j)
                  for j in range(num_clusters))
    return dataclasses.replace(cfg, subsets=rtl_exp.SubsetConfig(kind="table", table=table, names=names))


def _own_parser(reduced: bool, clusters: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    if reduced:
        p.add_argument("--reduced", action="store_true")
    if clusters:
        p.add_argument("--clusters", choices=("table", "kmeans"), default="table")
        p.add_argument("--num-clusters", type=int, default=0)
        p.add_argument("--cluster-dim", type=int, default=32)
        p.add_argument("--cluster-seed", type=int, default=0)
    return p


def vision_main(argv, *, experiment: str, full: Factory, quick: Factory, description: str,
                reduced: Factory | None = None, clusters: bool = False) -> int:
    """Run :func:`experiments.rtl.main` with this module's configs, plus two module flags that are
    consumed here (and so do not appear in the recorded command; the run's ``config.json`` holds the
    resolved config):

    * ``--reduced`` (when ``reduced`` is given): use ``reduced()`` instead of the full config;
    * ``--clusters kmeans [--num-clusters K] [--cluster-dim D] [--cluster-seed S]`` (when ``clusters``):
      replace the cluster table by label-free k-means clusters (:func:`embedding_clusters`; K defaults to
      the table's number of clusters). The table lands in the config, so the run hash tells them apart.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    own, rest = _own_parser(reduced is not None, clusters).parse_known_args(argv)
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--quick", action="store_true")
    shared.add_argument("--data-dir", default=common.DEFAULT_DATA_DIR)
    shared.add_argument("--set", dest="overrides", action="append", default=[])
    known, _ = shared.parse_known_args(rest)
    base_full = full
    if getattr(own, "reduced", False):
        if known.quick:
            raise SystemExit(f"{experiment}: --reduced and --quick exclude each other")
        base_full = reduced
    if getattr(own, "clusters", "table") == "kmeans":
        def with_kmeans(factory: Factory) -> Factory:
            def make() -> rtl_exp.RTLExperiment:
                cfg = factory()
                data_sets = [o for o in known.overrides if o.startswith("data.")]
                data_cfg = config_lib.apply_overrides(cfg, data_sets)
                k = own.num_clusters or len(set(cfg.subsets.table))
                out = embedding_clusters(data_cfg, known.data_dir, num_clusters=k, dim=own.cluster_dim,
                                         seed=own.cluster_seed)
                return dataclasses.replace(cfg, subsets=out.subsets)
            return make
        base_full, quick = with_kmeans(base_full), with_kmeans(quick)
    return rtl_exp.main(rest, experiment=experiment, full=base_full, quick=quick, description=description)


def main(argv=None) -> int:
    return vision_main(argv, experiment="cifar10", full=full_config, quick=quick_config,
                       description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
