"""The GhostNet vision experiment modules: paper configs, the reduced CPU config, module flags, and each
module's quick form end to end (CIFAR on tiny pickle folders written here, Fashion-MNIST on the real files)."""
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from experiments import cifar10, cifar100, common, fmnist_classes, fmnist_clusters
from rtl_jax import config as config_lib
from rtl_jax.data import clusters
from rtl_jax.pruning import level_plan

FMNIST = Path(os.environ.get("RTL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
HAS_FMNIST = (FMNIST / "train-images-idx3-ubyte.gz").exists()
GHOSTNET_CIFAR_PRUNABLE = 125_832
GHOSTNET_GREY_PRUNABLE = 125_832 - 2 * 16 * 9  # the stem sees 1 channel instead of 3


@pytest.mark.parametrize("module, data, batch", [(cifar10, "cifar10", 320), (cifar100, "cifar100", 256),
                                                 (fmnist_classes, "fashion_mnist", 320),
                                                 (fmnist_clusters, "fashion_mnist", 256)])
def test_full_configs_are_the_paper_schedule(module, data, batch):
    cfg = module.full_config()
    assert cfg.data == common.DataConfig(name=data)  # all of the data
    assert cfg.model.name == "ghostnet_trunc" and cfg.model.depthwise_impl == "auto"
    assert cfg.batch_size == batch and cfg.search.batch_size == batch and cfg.single.batch_size == batch
    for phase in (cfg.search, cfg.joint, cfg.single):
        assert (phase.optimizer, phase.learning_rate, phase.weight_decay) == ("adam", 1e-4, 0.0)
    assert (cfg.search.epochs, cfg.joint.epochs, cfg.single.epochs) == (10, 10, 20)
    p = cfg.prune
    assert (p.score, p.mode, p.amount, p.scope) == ("magnitude", "count", 4096, "global")
    assert (p.target_sparsity, p.milestones) == (0.75, (0.25, 0.5, 0.75))
    # 4,096 per round, clipped at 94,374 / 62,916 / 31,458 kept: 8 + 8 + 8 rounds after the dense level
    plan = level_plan(GHOSTNET_CIFAR_PRUNABLE, mode=p.mode, amount=p.amount, target_sparsity=p.target_sparsity,
                      milestones=p.milestones)
    assert len(plan) == 25 and plan[:3] == [125_832, 121_736, 117_640]
    assert plan[8] == 94_374 and plan[16] == 62_916 and plan[24] == 31_458


def test_subset_tables_of_the_cluster_modules():
    assert cifar10.full_config().subsets.kind == "label" and fmnist_classes.full_config().subsets.kind == "label"
    c100 = cifar100.full_config().subsets
    assert c100.kind == "table" and (c100.table, c100.names) == clusters.cifar100_table()
    fm = fmnist_clusters.full_config().subsets
    assert fm.kind == "table" and fm.table == (0, 1, 0, 1, 0, 2, 0, 2, 3, 2)
    assert fm.names == ("tops", "bottoms/dresses", "footwear", "bags")
    assert fmnist_clusters.reduced_config().subsets == fm and fmnist_clusters.quick_config().subsets == fm
    assert cifar100.quick_config().subsets == c100


def test_reduced_config_lands_one_round_per_milestone():
    cfg = fmnist_classes.reduced_config()
    assert cfg.data == common.DataConfig(name="fashion_mnist", train_per_class=300, test_per_class=100)
    assert (cfg.search.epochs, cfg.joint.epochs, cfg.single.epochs, cfg.batch_size) == (2, 2, 2, 64)
    assert cfg.search.learning_rate == cfg.joint.learning_rate == cfg.single.learning_rate == 3e-3
    p = cfg.prune
    plan = level_plan(GHOSTNET_GREY_PRUNABLE, mode=p.mode, amount=p.amount, target_sparsity=p.target_sparsity,
                      milestones=p.milestones)
    assert plan == [125_544, 94_158, 62_772, 31_386]


def test_run_hashes_are_pinned():
    names = {m.__name__.split(".")[-1]: config_lib.run_dir_name(m.__name__.split(".")[-1], m.full_config())
             for m in (cifar10, cifar100, fmnist_classes, fmnist_clusters)}
    names["fmnist_classes_reduced"] = config_lib.run_dir_name("fmnist_classes", fmnist_classes.reduced_config())
    names["fmnist_clusters_reduced"] = config_lib.run_dir_name("fmnist_clusters", fmnist_clusters.reduced_config())
    assert names == {
        "cifar10": "cifar10_db5716e63b",
        "cifar100": "cifar100_538b16c2f5",
        "fmnist_classes": "fmnist_classes_3e0c790544",
        "fmnist_clusters": "fmnist_clusters_1a43914e8e",
        "fmnist_classes_reduced": "fmnist_classes_eda7a8e8c5",
        "fmnist_clusters_reduced": "fmnist_clusters_b1f7d532ba",
    }


def test_module_flags(capsys):
    assert fmnist_classes.main(["--reduced", "--print-config"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["experiment"] == "fmnist_classes" and record["config"]["data"]["train_per_class"] == 300
    with pytest.raises(SystemExit, match="--reduced and --quick exclude each other"):
        fmnist_classes.main(["--reduced", "--quick", "--print-config"])
    with pytest.raises(SystemExit):  # CIFAR modules have no reduced config
        cifar10.main(["--reduced", "--print-config"])
    assert "--reduced" in capsys.readouterr().err


def test_kmeans_clusters_flag_puts_the_table_in_the_config(capsys):
    # sklearn's digits (8x8, 10 classes) stand in for a dataset; the table comes from k-means of class means
    argv = ["--quick", "--print-config", "--clusters", "kmeans", "--num-clusters", "3", "--cluster-dim", "5",
            "--set", "data.name=digits", "--set", "data.train_per_class=0", "--set", "data.test_per_class=0"]
    assert fmnist_clusters.main(argv) == 0
    subsets = json.loads(capsys.readouterr().out)["config"]["subsets"]
    arrays = common.load_arrays(common.DataConfig(name="digits"), "unused", seed=0)
    expected = clusters.cluster_classes_from_embeddings(arrays.x_train, arrays.y_train, 10, 3, dim=5, seed=0)
    assert subsets["kind"] == "table" and tuple(subsets["table"]) == expected
    assert sorted(set(expected)) == [0, 1, 2] and expected[0] == 0
    assert len(subsets["names"]) == 3 and subsets["names"][0].startswith("k0: 0")
    assert sum(n.count(",") + 1 for n in subsets["names"]) == 10  # every class named once


# --------------------------------------------------------------------------- quick runs end to end
def _dump(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def _write_cifar10(data_dir: Path, train_per_class: int, test_per_class: int) -> None:
    root = data_dir / "cifar-10-batches-py"
    root.mkdir(parents=True)
    labels = np.tile(np.arange(10), train_per_class)
    for b, part in enumerate(np.array_split(labels, 5), start=1):
        _dump(root / f"data_batch_{b}", {b"labels": part.tolist(), b"data": _rows(len(part), b)})
    test = np.tile(np.arange(10), test_per_class)
    _dump(root / "test_batch", {b"labels": test.tolist(), b"data": _rows(len(test), 99)})
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    _dump(root / "batches.meta", {b"label_names": names})


def _write_cifar100(data_dir: Path, train_per_class: int, test_per_class: int) -> None:
    root = data_dir / "cifar-100-python"
    root.mkdir(parents=True)
    for split, n, seed in (("train", train_per_class, 1), ("test", test_per_class, 2)):
        fine = np.tile(np.arange(100), n)
        _dump(root / split, {b"data": _rows(len(fine), seed), b"fine_labels": fine.tolist(),
                             b"coarse_labels": (fine // 5).tolist()})
    _dump(root / "meta", {b"fine_label_names": [n.encode() for n in clusters.CIFAR100_FINE_NAMES],
                          b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]})


def _check_quick_run(run: Path, *, tickets: int, total: int) -> list[dict]:
    res = json.loads((run / "results.json").read_text())
    md = (run / "results.md").read_text()
    assert md.count("| RTL ") == 1 and md.count("| IMP single ") == 1 and md.count("| IMP multiple ") == 1
    assert "Dense (0%)" in md
    assert res["extra"]["seed_0"]["total_prunable"] == total and res["extra"]["seed_0"]["tickets"] == tickets
    rows = res["rows"]
    assert {r["method"] for r in rows} == {"RTL", "IMP single", "IMP multiple", "Dense"}
    for method in ("RTL", "IMP single", "IMP multiple"):
        assert [r["sparsity"] for r in rows if r["method"] == method] == [0.25, 0.5, 0.75]
    for r in rows:
        kept = round(total * (1 - r["sparsity"]))
        if r["method"] in ("IMP single", "Dense"):
            assert r["params"] == kept
        elif r["method"] == "IMP multiple":
            assert r["params"] == tickets * kept
        else:  # RTL: the union of the K masks lies between one mask and K masks
            assert kept <= r["params"] <= min(total, tickets * kept)
        assert 0.0 <= r["ba"] <= 1.0 and 0.0 <= r["top1"] <= 1.0
    return rows


@pytest.mark.slow
def test_cifar10_quick_on_pickles(tmp_path):
    _write_cifar10(tmp_path / "data", 20, 10)
    argv = ["--quick", "--set", "data.name=cifar10_pickle", "--workdir", str(tmp_path / "runs"),
            "--data-dir", str(tmp_path / "data"), "--no-progress"]
    assert cifar10.main(argv) == 0
    (run,) = (tmp_path / "runs").iterdir()
    _check_quick_run(run, tickets=10, total=GHOSTNET_CIFAR_PRUNABLE)


@pytest.mark.slow
def test_cifar100_quick_on_pickles(tmp_path):
    _write_cifar100(tmp_path / "data", 5, 2)
    argv = ["--quick", "--set", "data.name=cifar100_pickle", "--workdir", str(tmp_path / "runs"),
            "--data-dir", str(tmp_path / "data"), "--no-progress"]
    assert cifar100.main(argv) == 0
    (run,) = (tmp_path / "runs").iterdir()
    _check_quick_run(run, tickets=8, total=GHOSTNET_CIFAR_PRUNABLE)
    res = json.loads((run / "results.json").read_text())
    assert res["extra"]["seed_0"]["names"][6] == "fruits"


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not HAS_FMNIST, reason="Debian Fashion-MNIST not installed")
@pytest.mark.parametrize("module, tickets", [(fmnist_classes, 10), (fmnist_clusters, 4)])
def test_fmnist_quick_end_to_end(tmp_path, module, tickets):
    argv = ["--quick", "--workdir", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"), "--no-progress"]
    assert module.main(argv) == 0
    (run,) = (tmp_path / "runs").iterdir()
    rows = _check_quick_run(run, tickets=tickets, total=GHOSTNET_GREY_PRUNABLE)
    router = {r["router_top1"] for r in rows}
    assert len(router) == 1 and 1.0 / tickets < router.pop() <= 1.0  # the pixel router beats chance
