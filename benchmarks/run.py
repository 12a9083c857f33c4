"""Speed benchmarks, ratios side by side in one run (never timed assertions in tests).

    python -m benchmarks.run                 # all benchmarks, writes docs/benchmarks.md and .json
    python -m benchmarks.run --only routing  # one of: exposure, strategies, routing, inr
    make bench

1. ``exposure``: RTL ticket extraction (Algorithm 1: K one-vs-rest tickets on balanced batches) vs
   single-ticket IMP (one C-way model) for one pruning round at **equal data exposure** (the paper
   trains single IMP for 2× the epochs because balanced binary tickets see 2× presentations per
   epoch; rtl-paper §5). The paper reports about 8× more wall time for RTL (6 h vs 45 min).
2. ``strategies``: stacked (``jit(vmap)``) vs looped (Python loop of one jitted step) search steps on this
   backend, per model. The ``auto`` strategy is chosen from this measurement.
3. ``routing``: routed forward (per-example gather, all-tickets, grouped dispatch) vs the dense forward.

4. ``inr``: the INR experiment's routed reconstruction of a whole image (every pixel through its region's
   ticket): grouped by region (dispatch, one forward per ticket) vs a per-pixel mask gather vs all tickets on
   every pixel, against the dense forward.

Timings are wall-clock medians over repeats after a warm-up (compilation excluded).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rtl_jax import losses, masks, optim, routing, search
from rtl_jax import train as train_lib
from rtl_jax.models import get_model

OUT = Path(__file__).resolve().parents[1] / "docs"


def _median_time(fn, repeats=5):
    fn()  # warm-up / compile
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _block(tree):
    jax.tree.map(lambda x: x.block_until_ready() if hasattr(x, "block_until_ready") else x, tree)
    return tree


def _model(name, input_shape, classes=10):
    kw = {"prune_head": False}
    spec = get_model(name, num_outputs=classes, input_shape=input_shape, **kw)
    v = spec.init(jax.random.key(0))
    return spec, v["params"]


MODELS = [("lenet_300_100", (28, 28, 1)), ("small_cnn", (28, 28, 1))]


def bench_strategies(K=10, batch=128, steps=10):
    """ms per round of K ticket steps: stacked vmap vs looped."""
    rows = []
    def one(name, shape):
        spec, params = _model(name, shape)
        tx = optim.make_optimizer("adam", 1e-3)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(K, batch) + shape).astype(np.float32)
        y = (rng.random((K, batch)) < 0.5).astype(np.float32)
        li = np.arange(K, dtype=np.int32)
        st = train_lib.init_state(params, {}, tx)
        stacked_state = jax.tree.map(lambda a: jnp.stack([a] * K), st)
        m = masks.init_masks(params, K)
        vstep = search.make_stacked_step(spec, "one_vs_rest_bce", tx)
        act = np.ones(K, bool)

        def run_stacked():
            s = stacked_state
            for _ in range(steps):
                s, _ = vstep(s, m, {"x": x, "y": y, "logit_index": li}, act)
            _block(s)

        step = train_lib.make_train_step(spec, losses.one_vs_rest_bce, tx)
        singles = [jax.tree.map(lambda a, k=k: a[k], m) for k in range(K)]

        def run_looped():
            states = [st] * K
            for _ in range(steps):
                for k in range(K):
                    states[k], _ = step(states[k], singles[k], {"x": x[k], "y": y[k], "logit_index": li[k]})
            _block(states)

        t_s = _median_time(run_stacked, 3) / steps
        t_l = _median_time(run_looped, 3) / steps
        return ({"model": name, "tickets": K, "batch": batch, "stacked_ms": 1e3 * t_s, "looped_ms": 1e3 * t_l,
                     "stacked_over_looped": t_s / t_l, "auto": search.resolve_strategy("auto", params)})

    for name, shape in MODELS:
        rows.append(one(name, shape))

    return rows


def bench_exposure(K=10, batch=128, n_per_class=6000, epochs=1):
    """Seconds for one pruning round: Alg. 1 (K tickets, balanced epochs of 2·|d_k|) vs single IMP
    (C-way, 2 epochs over N = K·|d_k|) — the same number of presentations."""
    rows = []
    def one(name, shape):
        spec, params = _model(name, shape)
        tx = optim.make_optimizer("adam", 1e-3)
        rng = np.random.default_rng(0)
        n_steps_ticket = (2 * n_per_class) // batch * epochs
        n_steps_single = 2 * (K * n_per_class) // batch * epochs
        # time per step (warm), then scale to a round; long rounds would take minutes on CPU.
        steps = 20
        strategy = search.resolve_strategy("auto", params)
        xb = rng.normal(size=(K, batch) + shape).astype(np.float32)
        yb = (rng.random((K, batch)) < 0.5).astype(np.float32)
        li = np.arange(K, dtype=np.int32)
        st = train_lib.init_state(params, {}, tx)
        if strategy == "stacked":
            vstep = search.make_stacked_step(spec, "one_vs_rest_bce", tx)
            ss = jax.tree.map(lambda a: jnp.stack([a] * K), st)
            m = masks.init_masks(params, K)
            act = np.ones(K, bool)

            def rtl():
                s = ss
                for _ in range(steps):
                    s, _ = vstep(s, m, {"x": xb, "y": yb, "logit_index": li}, act)
                _block(s)
        else:
            step = train_lib.make_train_step(spec, losses.one_vs_rest_bce, tx)
            m1 = masks.init_mask(params)

            def rtl():
                states = [st] * K
                for _ in range(steps):
                    for k in range(K):
                        states[k], _ = step(states[k], m1, {"x": xb[k], "y": yb[k], "logit_index": li[k]})
                _block(states)

        cstep = train_lib.make_train_step(spec, losses.softmax_xent, tx)
        yc = rng.integers(0, K, batch).astype(np.int32)
        m1 = masks.init_mask(params)

        def single():
            s = st
            for _ in range(steps):
                s, _ = cstep(s, m1, {"x": xb[0], "y": yc})
            _block(s)

        t_rtl_step = _median_time(rtl, 3) / steps  # one step of all K tickets
        t_single_step = _median_time(single, 3) / steps
        t_rtl = t_rtl_step * n_steps_ticket
        t_single = t_single_step * n_steps_single
        return ({"model": name, "strategy": strategy, "presentations": 2 * K * n_per_class * epochs,
                     "rtl_round_s": t_rtl, "single_round_s": t_single, "rtl_over_single": t_rtl / t_single})

    for name, shape in MODELS:
        rows.append(one(name, shape))

    return rows


def bench_routing(K=10, n=10000, batch=1000):
    rows = []
    def one(name, shape):
        spec, params = _model(name, shape)
        rng = np.random.default_rng(0)
        st = masks.stack([jax.tree.map(lambda p: jnp.asarray(rng.random(p.shape) < 0.5), params) for _ in range(K)])
        x = rng.normal(size=(n,) + shape).astype(np.float32)
        ids = rng.integers(0, K, n).astype(np.int32)
        apply_fn = jax.jit(lambda p, xx: spec.module.apply({"params": p}, xx))
        dense = jax.jit(lambda p, xx: spec.module.apply({"params": p}, xx))

        def run_dense():
            for i in range(0, n, batch):
                dense(params, x[i:i + batch]).block_until_ready()

        res = {"model": name, "tickets": K, "examples": n}
        t_dense = _median_time(run_dense, 3)
        res["dense_img_s"] = n / t_dense
        for strategy in ("dispatch", "all_tickets", "per_example"):
            if strategy == "per_example" and name != "lenet_300_100":
                res[f"{strategy}_img_s"] = None  # B copies of conv weights: memory-bound and slow on CPU
                continue
            b = 100 if strategy == "per_example" else batch

            def run(strategy=strategy, b=b):
                for i in range(0, n, b):
                    routing.routed_apply(apply_fn, params, st, ids[i:i + b], x[i:i + b], strategy=strategy,
                                         bucket=32).block_until_ready()

            t = _median_time(run, 2)
            res[f"{strategy}_img_s"] = n / t
            res[f"{strategy}_over_dense_time"] = t / t_dense
        return res

    for name, shape in MODELS:
        rows.append(one(name, shape))

    return rows


def bench_inr_routing(size=64, regions=(4, 15), batch=512):
    """Routed forward of all ``size²`` pixels of one image through K region tickets of the INR MLP."""
    from rtl_jax.models.inr import fourier_features, pixel_grid

    spec = get_model("inr_mlp", num_outputs=3, input_shape=(34,))
    params = spec.init(jax.random.key(0))["params"]
    x = np.asarray(fourier_features(pixel_grid(size, size)))
    n = x.shape[0]
    apply_fn = jax.jit(lambda p, xx: spec.module.apply({"params": p}, xx))
    rows = []
    for K in regions:
        rng = np.random.default_rng(K)
        st = masks.stack([jax.tree.map(lambda p, r=rng: jnp.asarray(r.random(p.shape) < 0.5), params)
                          for _ in range(K)])
        # Region ids as contiguous horizontal bands (pixels of a region are adjacent, as in a segmentation).
        ids = (np.arange(n) * K // n).astype(np.int32)

        def run_dense():
            apply_fn(params, x).block_until_ready()

        res = {"pixels": n, "tickets": K}
        t_dense = _median_time(run_dense, 5)
        res["dense_ms"] = 1000 * t_dense
        for strategy in ("dispatch", "all_tickets", "per_example"):
            def run(strategy=strategy, st=st, ids=ids):
                if strategy == "dispatch":  # the whole image at once, grouped by region
                    routing.routed_apply(apply_fn, params, st, ids, x, strategy="dispatch",
                                         bucket=256).block_until_ready()
                    return
                for i in range(0, n, batch):  # bounded memory: a weight copy per pixel of the batch
                    routing.routed_apply(apply_fn, params, st, ids[i:i + batch], x[i:i + batch],
                                         strategy=strategy).block_until_ready()

            t = _median_time(run, 3)
            res[f"{strategy}_ms"] = 1000 * t
            res[f"{strategy}_over_dense_time"] = t / t_dense
        rows.append(res)
    return rows


def _md_table(rows, cols):
    def f(v):
        return "–" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(f(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["exposure", "strategies", "routing", "inr"], action="append")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    which = args.only or ["strategies", "exposure", "routing", "inr"]
    env = {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
           "jax": jax.__version__, "cpu": platform.processor() or platform.machine(),
           "date": time.strftime("%Y-%m-%d %H:%M")}
    results = {"env": env}
    md = [f"# Benchmarks ({env['backend']}, {len(env['devices'])} device(s), jax {env['jax']}, {env['date']})\n",
          "Command: `python -m benchmarks.run` (`make bench`). Medians after warm-up; compilation excluded.\n"]
    if "strategies" in which:
        r = results["strategies"] = bench_strategies()
        md += ["## Stacked vs looped search steps (10 tickets, batch 128)\n",
               _md_table(r, ["model", "stacked_ms", "looped_ms", "stacked_over_looped", "auto"]), ""]
    if "exposure" in which:
        r = results["exposure"] = bench_exposure()
        md += ["## One pruning round at equal data exposure: RTL (10 tickets) vs single IMP\n",
               _md_table(r, ["model", "strategy", "presentations", "rtl_round_s", "single_round_s",
                             "rtl_over_single"]), ""]
    if "routing" in which:
        r = results["routing"] = bench_routing()
        md += ["## Routed vs dense forward (10 tickets, 10,000 examples)\n",
               _md_table(r, ["model", "dense_img_s", "dispatch_img_s", "all_tickets_img_s", "per_example_img_s",
                             "dispatch_over_dense_time", "all_tickets_over_dense_time"]), ""]
    if "inr" in which:
        r = results["inr"] = bench_inr_routing()
        md += ["## INR: routed reconstruction of a 64×64 image (4,096 pixels), pixel → its region's ticket\n",
               _md_table(r, ["pixels", "tickets", "dense_ms", "dispatch_ms", "all_tickets_ms", "per_example_ms",
                             "dispatch_over_dense_time", "per_example_over_dense_time"]), ""]
    text = "\n".join(md) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.md").write_text(text)
    (out / "benchmarks.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
