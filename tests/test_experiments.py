"""Experiment modules: pinned run hashes, CLI errors, and the main job end to end (quick, real data)."""
import json
import os
from pathlib import Path

import pytest

from experiments import imp as imp_exp
from experiments import rtl as rtl_exp
from rtl_jax import config as config_lib

FMNIST = Path(os.environ.get("RTL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def test_run_hashes_are_pinned():
    # Changing a default or the hashing changes these names: old run directories would be orphaned.
    assert config_lib.run_dir_name("rtl", rtl_exp.full_config()) == "rtl_99914b932b"  # md5("{}")
    assert config_lib.run_dir_name("rtl", rtl_exp.quick_config()) == "rtl_c360abe24b"
    assert config_lib.run_dir_name("imp", imp_exp.quick_config()) == "imp_cbcb33b1dd"
    over = config_lib.apply_overrides(rtl_exp.full_config(), ["joint.opt_state=shared"])
    assert config_lib.non_defaults(over) == {"joint": {"opt_state": "shared"}}


def test_cli_errors_name_the_problem(tmp_path, capsys):
    with pytest.raises(SystemExit):
        rtl_exp.main(["--quick", "--workdir", str(tmp_path), "--set", "prune.amont=3"])
    assert "prune.amont" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rtl_exp.main(["--quick", "--workdir", str(tmp_path), "--set", "joint.opt_state=adam"])
    assert "per_ticket" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rtl_exp.main(["--quick", "--workdir", str(tmp_path), "--set", "batch_size"])
    assert "batch_size" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown dataset"):
        rtl_exp.main(["--quick", "--workdir", str(tmp_path), "--set", "data.name=cifar1000", "--no-progress"])
    with pytest.raises(ValueError, match="unknown model"):
        rtl_exp.main(["--quick", "--workdir", str(tmp_path), "--data-dir", "unused", "--no-progress",
                      "--set", "data.name=digits", "--set", "data.train_per_class=0", "--set", "data.test_per_class=0",
                      "--set", "model.name=resnet9000"])
    assert rtl_exp.main(["--quick", "--print-config"]) == 0
    assert '"run_hash": "c360abe24b"' in capsys.readouterr().out


@pytest.mark.realdata
@pytest.mark.skipif(not (FMNIST / "train-images-idx3-ubyte.gz").exists(), reason="Debian Fashion-MNIST not installed")
def test_main_job_quick_end_to_end(tmp_path):
    args = ["--quick", "--workdir", str(tmp_path), "--data-dir", str(tmp_path / "data"), "--no-progress"]
    assert rtl_exp.main(args) == 0
    run = tmp_path / "rtl_c360abe24b"
    res = json.loads((run / "results.json").read_text())
    assert (run / "results.md").read_text().count("| RTL ") == 1
    rows = res["rows"]
    methods = {r["method"] for r in rows}
    assert methods == {"RTL", "IMP single", "IMP multiple", "Dense"}
    total = res["extra"]["seed_0"]["total_prunable"]
    assert total == 784 * 300 + 300 * 100  # LeNet-300-100 with the classifier dense
    for r in rows:
        s = r["sparsity"]
        if r["method"] == "IMP single":
            assert r["params"] == round(total * (1 - s))
        if r["method"] == "IMP multiple":
            assert r["params"] == 10 * round(total * (1 - s))
        if r["method"] == "RTL":  # the union lies between one mask and K masks
            assert round(total * (1 - s)) <= r["params"] <= min(total, 10 * round(total * (1 - s)))
        assert 0.5 < r["ba"] <= 1.0 and 0.0 <= r["precision"] <= 1.0 and 0.0 <= r["top1"] <= 1.0
    rtl = [r for r in rows if r["method"] == "RTL"]
    assert [r["sparsity"] for r in rtl] == [0.25, 0.5, 0.75]
    assert min(r["ba"] for r in rtl) > 0.85  # 200 images per class, one epoch: well above chance (0.5)
    # a second invocation finds every stage finished and reproduces the table exactly
    assert rtl_exp.main(args) == 0
    again = json.loads((run / "results.json").read_text())
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(again["rows"]) == strip(rows)
