"""Model registry. All models are Flax **Linen** modules called as
``module.apply(variables, x, train=bool)``; see README "Why Linen" for the choice.

A :class:`ModelSpec` bundles a module with what the rest of the library needs to know about it:
its output size (always the number of classes/targets of the data — asserted, never defaulted),
its input shape, and the regexes that choose prunable parameters.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

PyTree = Any

_REGISTRY: dict[str, Callable[..., ModelSpec]] = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model and its pruning/IO facts.

    Attributes:
      name: registry name.
      module: the Flax Linen module; ``apply(variables, x, train=...)`` returns ``[B, num_outputs]``
        (or a model-specific output for non-classifiers).
      num_outputs: output size; equals the data's number of classes for classifiers.
      input_shape: one example's shape (no batch axis).
      prunable_include / prunable_exclude: regexes over "/"-joined param paths
        (see :func:`rtl_jax.masks.select_prunable`).
      has_batch_stats: whether the model keeps BatchNorm running statistics.
    """

    name: str
    module: nn.Module
    num_outputs: int
    input_shape: tuple[int, ...]
    prunable_include: tuple[str, ...] = (r"(^|/)kernel$",)
    prunable_exclude: tuple[str, ...] = ()
    has_batch_stats: bool = False

    def init(self, key: jax.Array) -> dict[str, PyTree]:
        """Initial variables ``{'params': ..., ['batch_stats': ...]}`` for a batch of one."""
        x = jnp.zeros((1,) + tuple(self.input_shape), jnp.float32)
        variables = self.module.init(key, x, train=False)
        out = jax.eval_shape(lambda v: self.module.apply(v, x, train=False), variables)
        if out.shape[-1] != self.num_outputs:
            raise AssertionError(
                f"model {self.name!r} produced {out.shape[-1]} outputs, expected {self.num_outputs}"
            )
        return dict(variables)


def register_model(name: str):
    """Decorator registering ``builder(num_outputs=..., input_shape=..., **kw) -> ModelSpec``."""

    def deco(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = builder
        return builder

    return deco


def model_names() -> list[str]:
    return sorted(_REGISTRY)


def get_model(name: str, *, num_outputs: int, input_shape: tuple[int, ...], **kwargs) -> ModelSpec:
    """Build a registered model. ``num_outputs`` is required (no silent default)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {model_names()}")
    if not isinstance(num_outputs, int) or num_outputs < 1:
        raise ValueError(f"num_outputs must be a positive int (the number of classes), got {num_outputs!r}")
    spec = _REGISTRY[name](num_outputs=num_outputs, input_shape=tuple(input_shape), **kwargs)
    if spec.num_outputs != num_outputs:
        raise AssertionError(f"model {name!r} built with {spec.num_outputs} outputs, asked for {num_outputs}")
    return spec


# Register the built-in models (import for side effects).
from rtl_jax.models import classic as _classic  # noqa: E402,F401
from rtl_jax.models import ghostnet as _ghostnet  # noqa: E402,F401
from rtl_jax.models import inr as _inr  # noqa: E402,F401
from rtl_jax.models import unet_stft as _unet_stft  # noqa: E402,F401
