"""Table 1, CIFAR-100 rows: RTL with the paper's 8 cluster tickets (Table 5) on the truncated GhostNet.

    python -m experiments.cifar100 --seeds 3                                # the paper's schedule (GPU/TPU)
    python -m experiments.cifar100 --seeds 3 --set data.name=cifar100_pickle    # from cifar-100-python/
    python -m experiments.cifar100 --clusters kmeans --num-clusters 8       # label-free clusters
    python -m experiments.cifar100 --set prune.target_sparsity=0.95         # Fig. 2 curves
    python -m experiments.cifar100 --quick                                  # CI-sized

Subsets: the class → cluster table of the paper's App. B Table 5 (:data:`rtl_jax.data.clusters.
CIFAR100_CLUSTERS`, written over the 100 fine classes in the dataset's canonical alphabetical order, the
order of both TFDS ``cifar100`` and ``cifar-100-python/meta``; checked to cover every class once). The
paper built it from CLIP text embeddings of the class names (UMAP + HDBSCAN, unreported settings); we
hard-code it. ``--clusters kmeans`` instead clusters the classes without cluster labels: k-means over
each class's mean of PCA-``--cluster-dim`` image features (:func:`rtl_jax.data.clusters.
cluster_classes_from_embeddings`), not CLIP. The single-mask IMP baseline predicts the 100 fine classes,
mapped to clusters through the table for BA / precision / recall (the paper leaves this open, §10.9).

Full config = the paper's schedule (rtl-paper §7.1) with batch 256: Adam 1e-4, no weight decay, 10 + 10
epochs per round, 4,096 weights per round to 75%, single IMP 20 epochs, same θ0 everywhere.

Data. CIFAR cannot be downloaded on the project's machines; where it can, either TFDS (default,
``data.name=cifar100``; the prepare step needs TensorFlow)::

    pip install tensorflow tensorflow-datasets
    python -c "import tensorflow_datasets as tfds; tfds.builder('cifar100', data_dir='data').download_and_prepare()"

or the python-pickle folder (``--set data.name=cifar100_pickle``)::

    mkdir -p data && curl -L https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz | tar xz -C data
    # -> data/cifar-100-python/{train,test,meta}
"""
from __future__ import annotations

import sys

from experiments import common
from experiments import rtl as rtl_exp
from experiments.cifar10 import paper_config, quick_vision_config, vision_main
from rtl_jax.data import clusters as clusters_lib


def table5_subsets() -> rtl_exp.SubsetConfig:
    """The paper's 8 clusters as ``SubsetConfig(kind="table")`` over the canonical fine classes."""
    table, names = clusters_lib.cifar100_table()
    return rtl_exp.SubsetConfig(kind="table", table=table, names=names)


def full_config() -> rtl_exp.RTLExperiment:
    """The paper's CIFAR-100 schedule: TFDS ``cifar100``, 8 Table 5 cluster tickets, batch 256."""
    return paper_config(common.DataConfig(name="cifar100"), batch_size=256, subsets=table5_subsets())


def quick_config() -> rtl_exp.RTLExperiment:
    """CI: 5 training and 2 test images per fine class (the smallest cluster, fruits, then holds 20
    training images, one balanced batch of 20)."""
    return quick_vision_config(common.DataConfig(name="cifar100", train_per_class=5, test_per_class=2),
                               subsets=table5_subsets())


def main(argv=None) -> int:
    return vision_main(argv, experiment="cifar100", full=full_config, quick=quick_config, clusters=True,
                       description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
