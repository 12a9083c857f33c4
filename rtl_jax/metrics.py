"""Classification metrics (the paper's protocol, rtl-paper §7.6 and §9).

One-vs-rest: a detector for class/subset k is scored on the **whole** test set (positives = subset k);
balanced accuracy BA = (TPR + TNR) / 2, precision = TP / (TP + FP), recall = TP / (TP + FN); tables
macro-average over tickets. A C-way classifier is scored the same way from its argmax predictions
(rtl-paper §9.1: that reproduces the paper's single-IMP rows). Precision with no positive predictions
is defined as 0 (and reported in the counts).
"""
from __future__ import annotations

import numpy as np


def binary_counts(pred: np.ndarray, target: np.ndarray) -> dict[str, int]:
    """TP/FP/FN/TN of boolean predictions against boolean targets."""
    pred = np.asarray(pred, bool)
    target = np.asarray(target, bool)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} != target shape {target.shape}")
    return {
        "tp": int(np.sum(pred & target)),
        "fp": int(np.sum(pred & ~target)),
        "fn": int(np.sum(~pred & target)),
        "tn": int(np.sum(~pred & ~target)),
    }


def binary_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """BA, precision, recall, TNR and accuracy of a binary detector."""
    c = binary_counts(pred, target)
    pos, neg = c["tp"] + c["fn"], c["tn"] + c["fp"]
    if pos == 0 or neg == 0:
        raise ValueError(f"binary metrics need positives and negatives in the targets (pos={pos}, neg={neg})")
    tpr = c["tp"] / pos
    tnr = c["tn"] / neg
    prec = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    return {
        "ba": (tpr + tnr) / 2,
        "precision": prec,
        "recall": tpr,
        "tnr": tnr,
        "accuracy": (c["tp"] + c["tn"]) / (pos + neg),
    }


def one_vs_rest_from_labels(pred_labels: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """Per-class one-vs-rest metrics of C-way predictions: arrays ``[C]`` for ba/precision/recall/tnr."""
    pred_labels = np.asarray(pred_labels)
    labels = np.asarray(labels)
    rows = [binary_metrics(pred_labels == k, labels == k) for k in range(num_classes)]
    return {m: np.array([r[m] for r in rows]) for m in ("ba", "precision", "recall", "tnr")}


def macro(per_ticket: dict[str, np.ndarray]) -> dict[str, float]:
    """Macro averages of per-ticket metric arrays."""
    return {k: float(np.mean(v)) for k, v in per_ticket.items()}


def top1(logits_or_labels: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy from logits ``[N, C]`` or predicted labels ``[N]``."""
    p = np.asarray(logits_or_labels)
    if p.ndim == 2:
        p = p.argmax(-1)
    return float(np.mean(p == np.asarray(labels)))
