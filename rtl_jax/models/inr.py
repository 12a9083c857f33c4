"""Implicit neural representation (INR) models for the paper's ADE20K experiment (rtl-paper §7.4).

One MLP represents one image: it maps the Fourier features of a pixel coordinate to the pixel's RGB
value. RTL routes every pixel to the ticket of its ground-truth segmentation region. The single-IMP
baseline is the same MLP conditioned on the region by a learned class embedding.

**Fourier features** (the paper does not define them; rtl-paper §10.11). Coordinates lie in
``[-1, 1]`` (:func:`pixel_grid`). The 34 inputs are the raw ``(x, y)`` followed by ``sin`` and
``cos`` at the ``L = 8`` frequencies ``2^i · π`` (``i = 0..7``) on each axis, in this order::

    [x, y,
     sin(2^0 π x) .. sin(2^7 π x), cos(2^0 π x) .. cos(2^7 π x),
     sin(2^0 π y) .. sin(2^7 π y), cos(2^0 π y) .. cos(2^7 π y)]

These are NeRF's positional encoding with the input kept. The lowest frequency ``π`` spans one full
period over ``[-1, 1]``, so its sin/cos features repeat at ``x = -1`` and ``x = 1``; the raw
coordinate tells them apart.

**Models.**

* ``"inr_mlp"`` (:class:`INRMLP`): a ReLU MLP with layers 34→128, 128→128 ×3, 128→3 and a linear
  output. The 5 dense kernels hold 53,888 prunable weights. Biases stay dense.
* ``"inr_mlp_conditioned"`` (:class:`ConditionedINRMLP`): the same MLP. A learned region embedding
  (``num_regions × 16``) is concatenated to the 34 features, so the first layer is 50→128. That first
  layer is stored as two params:

  - ``Dense_0/kernel`` ``[34, 128]`` for the features;
  - ``Dense_0/embed_kernel`` ``[16, 128]`` for the embedding rows.

  This keeps the embedding-input rows selectable by regex. By default they are **not** pruned, so the
  prunable count equals the RTL MLP's 53,888. The paper's IMP counts 40.5K/27.0K/13.5K at
  25/50/75% (rtl-paper §9.4) equal 0.75/0.5/0.25 × 54K, which excludes these rows. Pass
  ``prune_embedding_input=True`` to prune them too (55,936 prunable). The embedding table
  ``region_embedding`` always stays dense.

  The interface is one array, so the generic ``module.apply(variables, x, train=...)`` pipeline works
  unchanged: ``x[..., :-1]`` are the Fourier features and ``x[..., -1]`` is the integer region id,
  stored as a float. Build such inputs with :func:`conditioned_inputs`, which validates the ids. Inside
  ``jit`` an out-of-range id cannot raise, so it makes that example's output NaN (never a silently
  clamped embedding).

**Fair init** (rtl-paper §7.4): initialise the conditioned baseline, then delete its embedding-input
weights and the embedding table. The result is the RTL MLP's init (:func:`rtl_init_from_conditioned`),
so both models start from identical shared weights. The shared first-layer weights then follow
LeCun-normal with ``fan_in = 34 + 16 = 50``. An :class:`INRMLP` initialised on its own uses
``fan_in = 34``; use the fair init whenever RTL is compared with the conditioned baseline.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rtl_jax.models import ModelSpec, register_model

PyTree = Any

#: Default number of Fourier frequencies per axis (2 + 4·8 = 34 features).
NUM_FREQUENCIES = 8
#: Default region-embedding width of the conditioned baseline (inferred from the 50-wide first layer).
EMBED_DIM = 16
#: Hidden widths of the paper's INR MLP (rtl-paper §7.4).
HIDDEN = (128, 128, 128, 128)


# --------------------------------------------------------------------------- inputs
def num_fourier_features(num_frequencies: int = NUM_FREQUENCIES) -> int:
    """Width of :func:`fourier_features`' output: ``2 + 4 · num_frequencies`` (34 for 8)."""
    if int(num_frequencies) != num_frequencies or num_frequencies < 0:
        raise ValueError(f"num_frequencies must be a non-negative int, got {num_frequencies!r}")
    return 2 + 4 * int(num_frequencies)


def fourier_features(coords: jax.Array, num_frequencies: int = NUM_FREQUENCIES) -> jax.Array:
    """Raw coordinates plus sin/cos at frequencies ``2^i · π`` on each axis.

    Args:
      coords: ``[..., 2]`` float ``(x, y)`` coordinates, meant to lie in ``[-1, 1]`` (see
        :func:`pixel_grid`). Values outside are not rejected; the features are well defined anyway.
      num_frequencies: frequencies per axis, ``2^0 π .. 2^(L-1) π``.

    Returns:
      ``[..., 2 + 4L]`` float32: ``[x, y, sin_x(L), cos_x(L), sin_y(L), cos_y(L)]``, see the module
      docstring.
    """
    n_out = num_fourier_features(num_frequencies)
    coords = jnp.asarray(coords, jnp.float32)
    if coords.ndim < 1 or coords.shape[-1] != 2:
        raise ValueError(f"coords must have shape [..., 2] (x, y), got {coords.shape}")
    freqs = jnp.asarray(np.pi * 2.0 ** np.arange(int(num_frequencies)), jnp.float32)  # [L]
    angles = coords[..., :, None] * freqs  # [..., 2, L]
    per_axis = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)  # [..., 2, 2L]
    feats = jnp.concatenate([coords, per_axis.reshape(coords.shape[:-1] + (4 * int(num_frequencies),))], axis=-1)
    assert feats.shape[-1] == n_out
    return feats


def pixel_grid(height: int, width: int) -> jax.Array:
    """Pixel coordinates ``[height·width, 2]`` in row-major pixel order (index ``r·width + c``).

    ``[:, 0]`` is x (the column), ``[:, 1]`` is y (the row). Both are ``linspace(-1, 1, n)`` with the
    endpoints included (SIREN's ``get_mgrid`` convention), so the corner pixels sit at ±1. A size of 1
    gives the single coordinate -1.
    """
    for name, n in (("height", height), ("width", width)):
        if int(n) != n or n < 1:
            raise ValueError(f"pixel_grid {name} must be a positive int, got {n!r}")
    ys = jnp.linspace(-1.0, 1.0, int(height), dtype=jnp.float32)
    xs = jnp.linspace(-1.0, 1.0, int(width), dtype=jnp.float32)
    yy, xx = jnp.meshgrid(ys, xs, indexing="ij")
    return jnp.stack([xx.reshape(-1), yy.reshape(-1)], axis=-1)


def conditioned_inputs(features: jax.Array, region_ids: jax.Array, num_regions: int) -> jax.Array:
    """Append integer region ids as the last column: ``[..., F] , [...] -> [..., F + 1]`` (host-checked).

    Raises ``ValueError`` when shapes disagree, ids are not integers, or an id is outside
    ``0..num_regions-1`` (JAX would otherwise clamp or fill silently).
    """
    features = np.asarray(features)
    ids = np.asarray(region_ids)
    if features.shape[:-1] != ids.shape:
        raise ValueError(f"region_ids shape {ids.shape} does not match features' leading shape {features.shape[:-1]}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"region_ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= num_regions):
        bad = ids[(ids < 0) | (ids >= num_regions)].ravel()[0]
        raise ValueError(
            f"region id {int(bad)} out of range for num_regions={num_regions} (valid 0..{num_regions - 1})"
        )
    return jnp.concatenate([jnp.asarray(features, jnp.float32), jnp.asarray(ids, jnp.float32)[..., None]], axis=-1)


# --------------------------------------------------------------------------- modules
def _lecun_normal_fan_in(fan_in: int):
    """LeCun-normal (Flax ``Dense``'s default) with an explicit ``fan_in`` (for a split first layer)."""
    base = nn.initializers.lecun_normal()

    def init(key, shape, dtype=jnp.float32):
        # Entries are i.i.d., so sampling rows of a [fan_in, out] kernel separately has the same law.
        return base(key, (fan_in,) + tuple(shape[1:]), dtype)[: shape[0]]

    return init


class INRMLP(nn.Module):
    """ReLU MLP ``in → hidden… → num_outputs`` with a linear output. Layers are named ``Dense_0..Dense_n``."""

    hidden: Sequence[int] = HIDDEN
    num_outputs: int = 3

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train
        x = jnp.asarray(x, jnp.float32)
        for i, h in enumerate(self.hidden):
            x = nn.relu(nn.Dense(h, name=f"Dense_{i}")(x))
        return nn.Dense(self.num_outputs, name=f"Dense_{len(self.hidden)}")(x)


class _SplitInputDense(nn.Module):
    """``features @ kernel + emb @ embed_kernel + bias``: one ``[F + E → out]`` layer stored as two kernels."""

    features_out: int
    fan_in: int

    @nn.compact
    def __call__(self, feats, emb):
        init = _lecun_normal_fan_in(self.fan_in)
        kernel = self.param("kernel", init, (feats.shape[-1], self.features_out))
        embed_kernel = self.param("embed_kernel", init, (emb.shape[-1], self.features_out))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features_out,))
        return feats @ kernel + emb @ embed_kernel + bias


class ConditionedINRMLP(nn.Module):
    """The INR MLP conditioned on a learned region embedding (the paper's single-IMP INR baseline).

    Input ``x[..., :-1]``: Fourier features; ``x[..., -1]``: integer region id as a float (see
    :func:`conditioned_inputs`). Out-of-range ids give NaN outputs.
    """

    num_regions: int
    embed_dim: int = EMBED_DIM
    hidden: Sequence[int] = HIDDEN
    num_outputs: int = 3

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train
        x = jnp.asarray(x, jnp.float32)
        feats = x[..., :-1]
        ids = jnp.round(x[..., -1]).astype(jnp.int32)
        table = self.param(
            "region_embedding", nn.initializers.normal(stddev=1.0), (self.num_regions, self.embed_dim)
        )
        valid = (ids >= 0) & (ids < self.num_regions)
        emb = jnp.where(valid[..., None], table[jnp.clip(ids, 0, self.num_regions - 1)], jnp.nan)
        h = _SplitInputDense(self.hidden[0], fan_in=feats.shape[-1] + self.embed_dim, name="Dense_0")(feats, emb)
        h = nn.relu(h)
        for i, width in enumerate(self.hidden[1:], start=1):
            h = nn.relu(nn.Dense(width, name=f"Dense_{i}")(h))
        return nn.Dense(self.num_outputs, name=f"Dense_{len(self.hidden)}")(h)


# --------------------------------------------------------------------------- fair init
def rtl_init_from_conditioned(cond_params: PyTree) -> PyTree:
    """The RTL MLP's params from the conditioned baseline's: drop ``region_embedding`` and
    ``Dense_0/embed_kernel``; every other weight is shared unchanged (rtl-paper §7.4 fair init).

    ``cond_params`` is the ``"params"`` collection of :class:`ConditionedINRMLP`. The result has the
    tree structure of :class:`INRMLP`'s params.
    """
    if not isinstance(cond_params, dict) or "params" in cond_params:
        raise ValueError("rtl_init_from_conditioned expects the 'params' collection (a dict of layers), "
                         f"got keys {list(cond_params) if isinstance(cond_params, dict) else type(cond_params)}")
    for key in ("region_embedding", "Dense_0"):
        if key not in cond_params:
            raise ValueError(f"conditioned INR params lack {key!r}; got keys {sorted(cond_params)}")
    if "embed_kernel" not in cond_params["Dense_0"]:
        raise ValueError(
            f"conditioned INR params lack 'Dense_0/embed_kernel'; Dense_0 has {sorted(cond_params['Dense_0'])}"
        )
    out = {}
    for name, layer in cond_params.items():
        if name == "region_embedding":
            continue
        out[name] = {k: v for k, v in layer.items() if not (name == "Dense_0" and k == "embed_kernel")}
    return out


# --------------------------------------------------------------------------- registry
def _check_vector_input(name: str, input_shape: tuple[int, ...], minimum: int) -> None:
    if len(input_shape) != 1 or input_shape[0] < minimum:
        raise ValueError(
            f"model {name!r} takes vectors: input_shape must be (n,) with n >= {minimum}, got {input_shape}"
        )


@register_model("inr_mlp")
def inr_mlp(*, num_outputs: int, input_shape, hidden: Sequence[int] = HIDDEN) -> ModelSpec:
    """The RTL INR MLP (input: ``input_shape = (34,)`` Fourier features; output RGB ``num_outputs = 3``).
    Prunable: every dense kernel (53,888 weights for the paper's sizes); biases dense."""
    _check_vector_input("inr_mlp", tuple(input_shape), 1)
    return ModelSpec(
        name="inr_mlp",
        module=INRMLP(hidden=tuple(int(h) for h in hidden), num_outputs=num_outputs),
        num_outputs=num_outputs,
        input_shape=tuple(input_shape),
    )


@register_model("inr_mlp_conditioned")
def inr_mlp_conditioned(
    *,
    num_outputs: int,
    input_shape,
    num_regions: int,
    embed_dim: int = EMBED_DIM,
    hidden: Sequence[int] = HIDDEN,
    prune_embedding_input: bool = False,
) -> ModelSpec:
    """The region-conditioned INR baseline. ``input_shape = (35,)``: 34 features plus the region-id column.

    Prunable: the dense kernels (53,888); with ``prune_embedding_input`` also ``Dense_0/embed_kernel``
    (+16·128). The embedding table and biases stay dense.
    """
    _check_vector_input("inr_mlp_conditioned", tuple(input_shape), 2)
    if int(num_regions) != num_regions or num_regions < 1:
        raise ValueError(f"num_regions must be a positive int, got {num_regions!r}")
    if int(embed_dim) != embed_dim or embed_dim < 1:
        raise ValueError(f"embed_dim must be a positive int, got {embed_dim!r}")
    include = (r"(^|/)kernel$",) + ((r"^Dense_0/embed_kernel$",) if prune_embedding_input else ())
    return ModelSpec(
        name="inr_mlp_conditioned",
        module=ConditionedINRMLP(
            num_regions=int(num_regions),
            embed_dim=int(embed_dim),
            hidden=tuple(int(h) for h in hidden),
            num_outputs=num_outputs,
        ),
        num_outputs=num_outputs,
        input_shape=tuple(input_shape),
        prunable_include=include,
    )


__all__ = [
    "EMBED_DIM",
    "HIDDEN",
    "NUM_FREQUENCIES",
    "ConditionedINRMLP",
    "INRMLP",
    "conditioned_inputs",
    "fourier_features",
    "num_fourier_features",
    "pixel_grid",
    "rtl_init_from_conditioned",
]
