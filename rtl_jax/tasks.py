"""Training tasks built from in-memory datasets: C-way classification and one-vs-rest subset detectors."""
from __future__ import annotations

import numpy as np

from rtl_jax import metrics
from rtl_jax.data import subsets
from rtl_jax.imp import Task


def classification_task(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    num_classes: int,
    batch_size: int,
    seed: int,
) -> Task:
    """C-way softmax classification over all training data; evaluation: top-1 and one-vs-rest macro."""

    def evaluate(predict_x):
        logits = predict_x(x_test)
        pred = logits.argmax(-1)
        ovr = metrics.macro(metrics.one_vs_rest_from_labels(pred, y_test, num_classes))
        return {"top1": metrics.top1(pred, y_test), **ovr}

    return Task(
        name=name,
        x=x_train,
        y=np.asarray(y_train, np.int32),
        epoch_batches=lambda e: subsets.shuffled_batches(len(x_train), batch_size, seed=seed, epoch=e),
        loss="softmax_xent",
        evaluate=evaluate,
    )


def one_vs_rest_task(
    name: str,
    x_train: np.ndarray,
    train_partition: subsets.Partition,
    x_test: np.ndarray,
    test_partition: subsets.Partition,
    *,
    k: int,
    batch_size: int,
    seed: int,
    logit_index: int | None = None,
) -> Task:
    """Binary detector for subset ``k`` on balanced batches (the paper's ticket training, §5/A.2).

    Scored on the whole test set (positives = test examples of subset ``k``): BA, precision, recall.
    The detector's score is head logit ``logit_index`` (default ``k``).
    """
    target = (train_partition.assignment == k).astype(np.float32)
    test_target = test_partition.assignment == k
    li = k if logit_index is None else logit_index

    def evaluate(predict_x):
        z = predict_x(x_test)[:, li]
        return metrics.binary_metrics(z > 0, test_target)

    return Task(
        name=name,
        x=x_train,
        y=target,
        epoch_batches=lambda e: subsets.balanced_one_vs_rest(
            train_partition, k, batch_size=batch_size, seed=seed, epoch=e
        )[0],
        loss="one_vs_rest_bce",
        evaluate=evaluate,
        logit_index=li,
    )
