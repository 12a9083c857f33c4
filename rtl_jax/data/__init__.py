"""Data layer: offline image datasets (numpy), subsets and deterministic batch schedules.

Nothing in this package downloads data; TensorFlow Datasets is imported only when a TFDS-backed
dataset is loaded, and used without TensorFlow.
"""
from rtl_jax.data.cifar import load_cifar10_pickle, load_cifar100_pickle, read_cifar_pickle
from rtl_jax.data.datasets import (
    Dataset,
    Split,
    channel_stats,
    dataset_names,
    load_dataset,
    load_digits,
    replace_split,
    standardize,
    subsample_per_class,
)
from rtl_jax.data.fashion_mnist import default_idx_dir, load_fashion_mnist, prepare_fashion_mnist
from rtl_jax.data.idx import read_idx, write_idx
from rtl_jax.data.subsets import (
    Partition,
    balanced_one_vs_rest,
    cyclic_schedule,
    epoch_permutation,
    partition_by_assignment,
    partition_by_label,
    partition_by_table,
    shuffled_batches,
)
from rtl_jax.data.tfds_source import load_tfds_dataset, prepared_version

__all__ = [
    "Dataset",
    "Partition",
    "Split",
    "balanced_one_vs_rest",
    "channel_stats",
    "cyclic_schedule",
    "dataset_names",
    "default_idx_dir",
    "epoch_permutation",
    "load_cifar100_pickle",
    "load_cifar10_pickle",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_tfds_dataset",
    "partition_by_assignment",
    "partition_by_label",
    "partition_by_table",
    "prepare_fashion_mnist",
    "prepared_version",
    "read_cifar_pickle",
    "read_idx",
    "replace_split",
    "shuffled_batches",
    "standardize",
    "subsample_per_class",
    "write_idx",
]
