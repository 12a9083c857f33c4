"""Fashion-MNIST with 10 class tickets on the paper's GhostNet: the offline stand-in for Table 1's CIFAR-10 rows.

    python -m experiments.fmnist_classes --reduced --seeds 3   # what docs/results/fmnist_ghostnet.md reports
    python -m experiments.fmnist_classes --seeds 3             # the paper's schedule on all of Fashion-MNIST
    python -m experiments.fmnist_classes --quick               # CI-sized (20 images per class, 1 epoch)

Data: the Debian package ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``; IDX files in
``/usr/share/datasets/fashion-mnist``, or ``RTL_FASHION_MNIST_DIR``), prepared once as a local TFDS dataset
under ``--data-dir``. Images are 28×28×1; the truncated GhostNet (``ghostnet_trunc``, 125,544 prunable conv
weights with a 1-channel stem instead of CIFAR's 125,832) downsamples them to 2×2 before pooling.

Configs:

* full (:func:`full_config`): the paper's CIFAR-10 schedule unchanged (rtl-paper §7.1): all 60k/10k images,
  Adam 1e-4, batch 320, 10 + 10 epochs per round, 4,096 weights per round
  (24 rounds to 75%, clipped at the milestones), single IMP
  20 epochs. On 2 free CPU cores this is about a day (~60M image presentations at ~1,000 img/s);
  on one GPU a few hours, like the paper's 6 h.
* reduced (:func:`reduced_config`, ``--reduced``): what we run on 2 CPU cores; see its docstring.
* quick (:func:`quick_config`, ``--quick``): CI plumbing check: seconds of training; compiling GhostNet
  dominates (about a dozen jitted functions, 10-20 s each on free cores, minutes on a loaded machine).

``--set prune.target_sparsity=0.95`` extends the search for Fig. 2 curves (with ``--reduced`` add
``--set prune.mode=fraction --set prune.amount=0.2`` for more than one extra level); then
``python -m experiments.analyze RUN_DIR`` draws Fig. 2 (collapse) and Fig. 3 (WordNet alignment).
"""
from __future__ import annotations

import dataclasses
import sys

from experiments import common
from experiments import rtl as rtl_exp
from experiments.cifar10 import paper_config, quick_vision_config, vision_main
from rtl_jax.imp import PruneConfig, TrainConfig
from rtl_jax.joint import JointConfig

#: Reduced scale (per class, train / test) of the CPU runs.
REDUCED_TRAIN_PER_CLASS = 300
REDUCED_TEST_PER_CLASS = 100


def full_config() -> rtl_exp.RTLExperiment:
    """The paper's CIFAR-10 schedule on all of Fashion-MNIST (10 class tickets, batch 320)."""
    return paper_config(common.DataConfig(name="fashion_mnist"), batch_size=320)


def reduced_config(subsets: rtl_exp.SubsetConfig = rtl_exp.SubsetConfig()) -> rtl_exp.RTLExperiment:
    """The CPU-sized version of the paper's schedule that docs/results/fmnist_ghostnet.md reports.

    Same model, θ0 sharing, Adam without weight decay, global magnitude pruning and milestones; scaled
    down: 300 training / 100 test images per class; batch 64; 2 pruning + 2 joint epochs per round and 2
    single-IMP epochs (the 10-way single model sees every class, so it gets more steps per epoch); 32,768
    weights per round, clipped to land on the milestones, i.e. exactly one round per milestone (3 rounds
    to 75% instead of the paper's 24 rounds of at most 4,096); Adam 3e-3 instead of 1e-4 (the paper's rate
    is for 10-epoch phases over 5,000+ images per class; here a class ticket gets 18 steps per round).
    """

    train = TrainConfig(epochs=2, batch_size=64, optimizer="adam", learning_rate=3e-3)
    return dataclasses.replace(
        paper_config(common.DataConfig(name="fashion_mnist", train_per_class=REDUCED_TRAIN_PER_CLASS,
                                       test_per_class=REDUCED_TEST_PER_CLASS), batch_size=64, subsets=subsets),
        search=train,
        joint=JointConfig(epochs=2, optimizer="adam", learning_rate=3e-3),
        single=dataclasses.replace(train, epochs=2),
        prune=PruneConfig(mode="count", amount=32768, target_sparsity=0.75, milestones=(0.25, 0.5, 0.75)),
    )


def quick_config() -> rtl_exp.RTLExperiment:
    """CI: 20 training and 10 test images per class, batch 20, 1 epoch per phase, 2 rounds of 50%."""
    return quick_vision_config(common.DataConfig(name="fashion_mnist", train_per_class=20, test_per_class=10))


def main(argv=None) -> int:
    return vision_main(argv, experiment="fmnist_classes", full=full_config, quick=quick_config,
                       reduced=reduced_config, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
