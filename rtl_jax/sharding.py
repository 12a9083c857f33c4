"""Device meshes and shardings for stacked tickets: ``jit`` + ``NamedSharding`` on a ``ticket`` axis.

Tickets of Algorithm 1 are independent, so a stacked search state (leading ticket axis on params,
optimiser state, masks, BatchNorm statistics and batches) is split over the ``ticket`` mesh axis and
the vmapped step runs without any collective. The same code runs on one device, on 8 simulated CPU
devices (tests), on a GPU/TPU host, and across hosts after ``jax.distributed.initialize()`` (every
process runs the same program; ``jax.devices()`` then lists all hosts' devices).
"""
from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

PyTree = Any


def ticket_axis_size(num_tickets: int, num_devices: int) -> int:
    """Largest number of devices ≤ ``num_devices`` that divides ``num_tickets``."""
    if num_tickets < 1 or num_devices < 1:
        raise ValueError(f"need num_tickets >= 1 and num_devices >= 1, got {num_tickets}, {num_devices}")
    return max(d for d in range(1, min(num_tickets, num_devices) + 1) if num_tickets % d == 0)


def make_ticket_mesh(num_tickets: int, devices=None) -> Mesh:
    """A 1-D mesh named ``ticket`` over as many devices as divide ``num_tickets``.

    Axis types are set explicitly (``Auto``): jax 0.10 defaults ``jax.make_mesh`` to Explicit mode.
    """
    devices = list(jax.devices() if devices is None else devices)
    n = ticket_axis_size(num_tickets, len(devices))
    return Mesh(np.array(devices[:n]), ("ticket",), axis_types=(jax.sharding.AxisType.Auto,))


def ticket_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over ``ticket``; other axes replicated."""
    return NamedSharding(mesh, P("ticket"))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def shard_stacked(tree: PyTree, mesh: Mesh) -> PyTree:
    """Place every leaf (all with a leading ticket axis) split over ``ticket``; scalars are replicated."""
    ts, rep = ticket_sharding(mesh), replicated(mesh)
    return jax.tree.map(lambda x: jax.device_put(x, ts if np.ndim(x) >= 1 else rep), tree)
