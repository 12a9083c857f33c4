"""rtl_jax: Routing the Lottery (adaptive lottery tickets) in JAX/Flax.

The public API lives in submodules, imported here for convenience:

* core: :mod:`~rtl_jax.masks`, :mod:`~rtl_jax.pruning`, :mod:`~rtl_jax.optim`, :mod:`~rtl_jax.train`,
  :mod:`~rtl_jax.losses`, :mod:`~rtl_jax.metrics`
* algorithms: :mod:`~rtl_jax.imp` (IMP with rewinding), :mod:`~rtl_jax.baselines`,
  :mod:`~rtl_jax.search` (Algorithm 1), :mod:`~rtl_jax.joint` (Algorithm 2), :mod:`~rtl_jax.routing`,
  :mod:`~rtl_jax.sharding`
* diagnostics: :mod:`~rtl_jax.similarity`, :mod:`~rtl_jax.collapse`
* infrastructure: :mod:`~rtl_jax.config`, :mod:`~rtl_jax.checkpoint`, :mod:`~rtl_jax.stages`,
  :mod:`~rtl_jax.report`, :mod:`~rtl_jax.models`

Not imported eagerly (heavier optional dependencies): :mod:`rtl_jax.data` (TFDS, sklearn),
:mod:`rtl_jax.alignment`, :mod:`rtl_jax.plots` (matplotlib), :mod:`rtl_jax.signal`.
"""
__version__ = "0.1.0"

from rtl_jax import (  # noqa: E402
    baselines,
    checkpoint,
    collapse,
    config,
    imp,
    joint,
    losses,
    masks,
    metrics,
    models,
    optim,
    pruning,
    report,
    routing,
    search,
    sharding,
    similarity,
    stages,
    train,
)

__all__ = [
    "baselines", "checkpoint", "collapse", "config", "imp", "joint", "losses", "masks", "metrics", "models",
    "optim", "pruning", "report", "routing", "search", "sharding", "similarity", "stages", "train",
]
