"""Algorithm 2 — joint retraining of all K tickets on one shared weight tensor (rtl-paper §3.3).

Per epoch, each subset's mini-batches are drawn (for classification the same balanced one-vs-rest
batches as Algorithm 1); the smaller subsets' batches repeat cyclically up to M = max_k M_k so every
ticket gets the same number of updates; then for b = 1..M, for k = 1..K: one masked optimiser step of
ticket k on its batch b (interleaved, sequential; masks frozen). Each (batch, ticket) pair is its own
step, so a weight in several masks is updated several times (rtl-paper §4 inference).

Options (defaults first; see README "Paper ambiguities"):

* ``opt_state="per_ticket"``: one optimiser state per ticket, so Adam's moments of ticket j never move
  weights only ticket k owns; ``"shared"``: one state, updates still zeroed outside the active mask;
  ``"naive"``: one state and only the *gradient* masked — a literal port in which momentum moves
  weights the active ticket does not own (kept for ablation; it breaks "no interference").
* ``mode="sequential"`` (the paper) or ``"summed"``: one step per batch index on the sum of all K
  tickets' losses, a documented faster deviation (needs a shared optimiser state).
* ``bn_stats="shared"`` (the paper keeps BN dense) or ``"per_ticket"`` running statistics.
* Start: θ0 ⊙ union(M) (ticket k then sees θ0 ⊙ m_k, the paper's ticket definition); weights outside
  the union are zero and never change.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rtl_jax import checkpoint as ckpt_lib
from rtl_jax import losses as losses_lib
from rtl_jax import masks as masks_lib
from rtl_jax import optim, stages
from rtl_jax import train as train_lib
from rtl_jax.imp import Task, remove_dir
from rtl_jax.models import ModelSpec
from rtl_jax.progress import progress

PyTree = Any


@dataclasses.dataclass(frozen=True)
class JointConfig:
    """Joint retraining. The paper's vision schedule: 10 epochs, Adam 1e-4 (rtl-paper §7.1)."""

    epochs: int = 10
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    mode: Literal["sequential", "summed"] = "sequential"
    opt_state: Literal["per_ticket", "shared", "naive"] = "per_ticket"
    bn_stats: Literal["shared", "per_ticket"] = "shared"


@flax.struct.dataclass
class JointState:
    step: jax.Array
    params: PyTree  # the one shared θ
    batch_stats: PyTree  # shared, or stacked [K, ...] with bn_stats="per_ticket"
    opt_state: PyTree  # stacked [K, ...] with opt_state="per_ticket"


@dataclasses.dataclass
class JointResult:
    params: PyTree = dataclasses.field(repr=False)
    batch_stats: PyTree = dataclasses.field(repr=False)
    metrics: list[dict[str, float]]
    scores: np.ndarray | None = dataclasses.field(repr=False)
    epoch_loss: list[list[float]]
    seconds: float
    skipped: bool


def check_config(cfg: JointConfig) -> None:
    if cfg.mode not in ("sequential", "summed"):
        raise ValueError(f"unknown joint mode {cfg.mode!r}; use sequential or summed")
    if cfg.opt_state not in ("per_ticket", "shared", "naive"):
        raise ValueError(f"unknown joint opt_state {cfg.opt_state!r}; use per_ticket, shared or naive")
    if cfg.bn_stats not in ("shared", "per_ticket"):
        raise ValueError(f"unknown joint bn_stats {cfg.bn_stats!r}; use shared or per_ticket")
    if cfg.mode == "summed" and cfg.opt_state == "per_ticket":
        raise ValueError("joint mode 'summed' takes one step for all tickets: use opt_state='shared' or 'naive'")
    if cfg.epochs < 1:
        raise ValueError(f"joint epochs must be >= 1, got {cfg.epochs}")


def make_tx(cfg: JointConfig) -> optax.GradientTransformationExtraArgs:
    if cfg.opt_state == "naive":
        inner = optim.make_inner(cfg.optimizer, cfg.learning_rate, weight_decay=cfg.weight_decay)
        return optax.chain(optim.zero_outside_mask(), inner)  # gradient masked only
    return optim.make_optimizer(cfg.optimizer, cfg.learning_rate, weight_decay=cfg.weight_decay)


def cyclic_indices(per_ticket: Sequence[np.ndarray]) -> np.ndarray:
    """``[M, K, B]``: ticket k's batch b is its batch ``b mod M_k`` (Alg. 2 steps 1-3)."""
    m = max(int(a.shape[0]) for a in per_ticket)
    return np.stack([a[np.arange(m) % a.shape[0]] for a in per_ticket], axis=1)


def joint_schedule(tasks: Sequence[Task], epoch: int) -> np.ndarray:
    """The ``[M, K, B]`` batch indices of one joint-retraining epoch."""
    return cyclic_indices([t.epoch_batches(epoch) for t in tasks])


def init_joint_state(variables0, stacked_masks, cfg: JointConfig, tx) -> JointState:
    K = masks_lib.num_tickets(stacked_masks)
    params = masks_lib.apply(variables0["params"], masks_lib.union(stacked_masks))
    bs = variables0.get("batch_stats", {}) or {}
    if cfg.bn_stats == "per_ticket" and bs:
        bs = jax.tree.map(lambda x: jnp.broadcast_to(x, (K,) + x.shape), bs)
    opt = tx.init(params)
    if cfg.opt_state == "per_ticket":
        opt = jax.tree.map(lambda x: jnp.broadcast_to(x, (K,) + jnp.shape(x)), opt)
    return JointState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=bs, opt_state=opt)


def _sel(tree, k):
    return jax.tree.map(lambda x: x[k], tree)


def _put(tree, k, new):
    return jax.tree.map(lambda x, n: x.at[k].set(n), tree, new)


def _forward_loss(module, loss_fn, params, mask, bs, batch):
    eff = masks_lib.apply(params, mask)
    v = {"params": eff}
    if bs:
        v["batch_stats"] = bs
        out, new = module.apply(v, batch["x"], train=True, mutable=["batch_stats"])
        new_bs = new["batch_stats"]
    else:
        out = module.apply(v, batch["x"], train=True)
        new_bs = bs
    loss, aux = loss_fn(out, batch)
    return loss, (aux, new_bs)


def make_sequential_step(spec: ModelSpec, loss_fn, tx, cfg: JointConfig):
    """``step(js, k, stacked_masks, batch) -> (js, loss)``: ticket ``k``'s masked step on the shared θ.
    ``k`` is traced: one compilation serves every ticket."""
    per_opt = cfg.opt_state == "per_ticket"
    per_bn = cfg.bn_stats == "per_ticket"

    def step(js: JointState, k, stacked_masks, batch):
        mask = _sel(stacked_masks, k)
        bs = _sel(js.batch_stats, k) if (per_bn and js.batch_stats) else js.batch_stats
        opt = _sel(js.opt_state, k) if per_opt else js.opt_state
        (loss, (_, new_bs)), grads = jax.value_and_grad(
            lambda p: _forward_loss(spec.module, loss_fn, p, mask, bs, batch), has_aux=True)(js.params)
        updates, new_opt = tx.update(grads, opt, js.params, mask=mask)
        params = optax.apply_updates(js.params, updates)
        opt_state = _put(js.opt_state, k, new_opt) if per_opt else new_opt
        batch_stats = _put(js.batch_stats, k, new_bs) if (per_bn and js.batch_stats) else new_bs
        return JointState(step=js.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state), loss

    return jax.jit(step)


def make_summed_step(spec: ModelSpec, loss_fn, tx, cfg: JointConfig, num_tickets: int):
    """``step(js, stacked_masks, batches[K, ...]) -> (js, losses[K])``: one optimiser step on the sum of
    all tickets' losses (the ``summed`` deviation). Unrolled over tickets (no vmapped convs on CPU)."""
    per_bn = cfg.bn_stats == "per_ticket"

    def step(js: JointState, stacked_masks, batches):
        def total(p):
            bs_all, losses = js.batch_stats, []
            for k in range(num_tickets):
                bs = _sel(bs_all, k) if (per_bn and bs_all) else bs_all
                loss, (_, nb) = _forward_loss(spec.module, loss_fn, p, _sel(stacked_masks, k), bs, _sel(batches, k))
                bs_all = _put(bs_all, k, nb) if (per_bn and bs_all) else nb
                losses.append(loss)
            losses = jnp.stack(losses)
            return losses.sum(), (losses, bs_all)

        (_, (losses, bs_all)), grads = jax.value_and_grad(total, has_aux=True)(js.params)
        updates, opt = tx.update(grads, js.opt_state, js.params, mask=masks_lib.union(stacked_masks))
        params = optax.apply_updates(js.params, updates)
        return JointState(step=js.step + 1, params=params, batch_stats=bs_all, opt_state=opt), losses

    return jax.jit(step)


def ticket_batch_stats(batch_stats, k: int, cfg: JointConfig):
    """The BatchNorm statistics ticket ``k`` evaluates with."""
    if cfg.bn_stats == "per_ticket" and batch_stats:
        return _sel(batch_stats, k)
    return batch_stats


def run_joint(
    spec: ModelSpec,
    variables0: dict[str, PyTree],
    stacked_masks: PyTree,
    tasks: Sequence[Task],
    *,
    cfg: JointConfig,
    run_dir: Path,
    x_score: np.ndarray | None = None,
    desc: str = "joint",
    log: Callable[[str], None] | None = None,
) -> JointResult:
    """Algorithm 2 from θ0 with frozen masks; a resumable stage in ``run_dir`` (checkpoint per epoch).

    Evaluates every ticket afterwards on its task (``metrics[k]``) and records each ticket's score on
    ``x_score`` (``scores[k]``) for label-free routing.
    """
    check_config(cfg)
    run_dir = Path(run_dir)
    K = masks_lib.num_tickets(stacked_masks)
    if len(tasks) != K:
        raise ValueError(f"{len(tasks)} tasks for {K} tickets")
    masks_lib.validate(variables0["params"], stacked_masks, stacked=True)
    tx = make_tx(cfg)
    js0 = init_joint_state(variables0, stacked_masks, cfg, tx)
    like = {"params": js0.params, "batch_stats": js0.batch_stats}
    predict = train_lib.make_predict(spec)
    if stages.is_done(run_dir):
        r = ckpt_lib.restore_tree(run_dir / "final", like)
        info = ckpt_lib.read_json(run_dir / "metrics.json")
        scores = np.load(run_dir / "scores.npy") if (run_dir / "scores.npy").exists() else None
        return JointResult(r["params"], r["batch_stats"], info["metrics"], scores, info["epoch_loss"],
                           info["seconds"], True)
    t0 = time.perf_counter()
    loss_fns = [losses_lib.get_loss(t.loss) for t in tasks]
    if len({t.loss for t in tasks}) != 1:
        raise ValueError("joint retraining needs one loss for all tickets")
    x = tasks[0].x
    epoch_loss = np.full((cfg.epochs, K), np.nan)
    ckpt = ckpt_lib.TrainCheckpointer(run_dir / "ckpt")
    js, start_epoch = js0, 0
    if ckpt.latest_step() is not None:
        start_epoch = ckpt.latest_step()
        r = ckpt.restore(start_epoch, {"state": js0, "epoch_loss": epoch_loss})
        js, epoch_loss = r["state"], np.asarray(r["epoch_loss"])
    seq = make_sequential_step(spec, loss_fns[0], tx, cfg) if cfg.mode == "sequential" else None
    summed = make_summed_step(spec, loss_fns[0], tx, cfg, K) if cfg.mode == "summed" else None
    logit = [np.int32(t.logit_index if t.logit_index is not None else 0) for t in tasks]
    for epoch in range(start_epoch, cfg.epochs):
        sched = joint_schedule(tasks, epoch)  # [M, K, B]
        losses = []
        for b in progress(range(sched.shape[0]), total=sched.shape[0], desc=f"{desc} epoch {epoch}", unit="batch"):
            if seq is not None:
                row = []
                for k in range(K):
                    idx = sched[b, k]
                    batch = {"x": x[idx], "y": tasks[k].y[idx], "logit_index": logit[k]}
                    js, loss = seq(js, np.int32(k), stacked_masks, batch)
                    row.append(loss)
                losses.append(jnp.stack(row))
            else:
                idx = sched[b]
                batches = {"x": x[idx], "y": np.stack([tasks[k].y[idx[k]] for k in range(K)]),
                           "logit_index": np.array(logit)}
                js, ls = summed(js, stacked_masks, batches)
                losses.append(ls)
        arr = np.asarray(jnp.stack(losses))
        train_lib.check_finite(arr.reshape(-1), f"{desc}, epoch {epoch}")
        epoch_loss[epoch] = arr.mean(0)
        ckpt.save(epoch + 1, {"state": js, "epoch_loss": epoch_loss})
    ckpt.close()
    metrics, scores = [], []
    for k, task in enumerate(tasks):
        m_k = masks_lib.select(stacked_masks, k)
        bs_k = ticket_batch_stats(js.batch_stats, k, cfg)
        cache: dict[int, np.ndarray] = {}

        def px(xx, _m=m_k, _bs=bs_k, _c=cache):
            if id(xx) not in _c:
                _c[id(xx)] = train_lib.predict_in_batches(predict, js.params, _bs, _m, xx)
            return _c[id(xx)]

        metrics.append({n: float(v) for n, v in task.evaluate(px).items()})
        if x_score is not None:
            out = px(x_score)
            scores.append(np.asarray(out[:, task.logit_index] if task.logit_index is not None else out, np.float32))
    scores_arr = np.stack(scores) if x_score is not None else None
    seconds = time.perf_counter() - t0
    ckpt_lib.save_tree(run_dir / "final", {"params": js.params, "batch_stats": js.batch_stats}, overwrite=True)
    if scores_arr is not None:
        np.save(run_dir / "scores.npy", scores_arr)
    ckpt_lib.write_json_atomic(run_dir / "metrics.json", {"metrics": metrics, "epoch_loss": epoch_loss.tolist(),
                                                          "seconds": seconds})
    stages.mark_done(run_dir, {"tickets": K})
    remove_dir(run_dir / "ckpt")
    if log:
        mean = {m: np.mean([x[m] for x in metrics]) for m in metrics[0]}
        log(f"{desc}: " + " ".join(f"{m}={v:.4f}" for m, v in mean.items()) + f" ({seconds:.1f}s)")
    return JointResult(js.params, js.batch_stats, metrics, scores_arr, epoch_loss.tolist(), seconds, False)
