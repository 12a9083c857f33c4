"""Loss functions ``loss_fn(outputs, batch) -> (scalar loss, aux metrics dict)``."""
from __future__ import annotations

import jax.numpy as jnp
import optax


def softmax_xent(logits, batch):
    """C-way cross-entropy with integer labels ``batch['y']``."""
    labels = batch["y"].astype(jnp.int32)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    acc = jnp.mean(jnp.argmax(logits, -1) == labels)
    return loss, {"loss": loss, "accuracy": acc}


def binary_logit(logits, batch):
    """The score of a one-vs-rest ticket: logit ``batch['logit_index']`` of the shared head."""
    idx = jnp.asarray(batch["logit_index"], jnp.int32)
    return jnp.take(logits, idx, axis=-1)


def one_vs_rest_bce(logits, batch):
    """Sigmoid BCE of a binary detector (the paper's one-vs-rest tickets, balanced batches).

    ``batch['y']`` holds 0/1 targets; the score is logit ``batch['logit_index']`` (the shared C-way head,
    rtl-paper §10.7 reading ``shared_logit_k``).
    """
    z = binary_logit(logits, batch)
    t = batch["y"].astype(jnp.float32)
    loss = optax.sigmoid_binary_cross_entropy(z, t).mean()
    acc = jnp.mean((z > 0) == (t > 0.5))
    return loss, {"loss": loss, "accuracy": acc}


def mse(outputs, batch):
    """Mean squared error over every element (e.g. the RGB values of an INR's pixels), ``batch['y']`` real targets
    of the outputs' shape."""
    err = outputs - batch["y"].astype(outputs.dtype)
    loss = jnp.mean(err**2)
    return loss, {"loss": loss}


LOSSES = {"softmax_xent": softmax_xent, "one_vs_rest_bce": one_vs_rest_bce, "mse": mse}


def get_loss(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {sorted(LOSSES)}")
    return LOSSES[name]
