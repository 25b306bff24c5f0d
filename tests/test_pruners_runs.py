"""The experiment files select RigL and one binding switches the pruner; whole runs with each (point 7)."""

import pytest
import torch
from conftest import parse

from harness.core import files
from harness.core.sections import SparsitySettings
from harness.execution.build import build
from harness.execution.run_folder import execute
from harness.models import resnet
from harness.training.flops import layer_flops, sparse_flops
from harness.training.sparsity import layer_targets


@pytest.mark.parametrize("experiment", ["gin/digits/swast_cut.gin", "gin/cifar10/swast_cut.gin"])
def test_swast_cut_selects_rigl_and_one_binding_switches_the_pruner(experiment):
    cfg = parse(experiment)
    assert cfg.method.pruner == "rigl" and "pruners.rigl.delta_t = " in cfg.text
    for other in ("probmask", "magnitude"):
        switched = parse(experiment, bindings=(f"pruner = '{other}'",))
        assert switched.method.pruner == other and f"pruners.{other}." in switched.text
        assert "pruners.rigl" not in switched.text and switched.key != cfg.key


def test_short_runs_get_short_pruning_cadences_from_gin():
    assert "pruners.rigl.delta_t = 5" in parse("gin/digits/swast_cut.gin").text
    smoke = parse("gin/cifar10/swast_cut.gin", "gin/scale/smoke.gin")
    assert "pruners.rigl.delta_t = 5" in smoke.text
    assert "pruners.rigl.delta_t = 100" in parse("gin/cifar10/swast_cut.gin").text


def kept_fraction(result: dict, layers) -> float:
    return sum(result["metrics"]["density_by_layer"][n] for n in layers) / len(layers)


@pytest.mark.slow
@pytest.mark.parametrize("pruner", ["probmask", "magnitude"])
def test_digits_swast_cut_trains_with_the_other_pruners(pruner, tmp_path):
    cfg = parse("gin/digits/swast_cut.gin", bindings=(f"pruner = '{pruner}'",))
    result = execute(cfg, tmp_path)
    m = result["metrics"]
    assert result["status"] == "ok" and m["test_accuracy"] > 70.0  # chance is 10%
    assert m["density_by_layer"]["fc.weight"] == pytest.approx(0.1, abs=0.005)
    assert m["density"] == pytest.approx(0.502, abs=0.005)  # the backbone at 50%, BatchNorm and biases dense
    assert 0 < m["relative_train_flops"] < 1 and m["inference_flops"] > 0


@pytest.mark.slow
def test_cifar10_swast_cut_runs_with_rigl_at_smoke_scale(cifar10_folder, tmp_path):
    cfg = parse("gin/cifar10/swast_cut.gin", "gin/scale/smoke.gin",
                bindings=("datasets.cifar10.source = 'folder'", f"data_root = '{cifar10_folder}'",
                          "epochs = 2", "data.train_limit = 500", "data.test_limit = 200"))
    result = execute(cfg, tmp_path)
    m = result["metrics"]
    assert result["status"] == "ok" and result["spec"]["pruner"] == "rigl"
    assert m["density_by_layer"]["fc.weight"] == pytest.approx(0.1, abs=0.001)
    model = resnet.resnet18(num_classes=10, in_channels=3, width=0.125)
    targets = layer_targets(model, 0.5, "backbone", SparsitySettings())
    expected = sparse_flops(layer_flops(model, (3, 32, 32)), {n: 1 - s for n, s in targets.items()})
    assert m["inference_flops"] == pytest.approx(expected)
    # Two epochs: one on the full data at the sparse cost, one on the 10% coreset, and GradMatch's dense probe
    # pass between them. More than the first epoch's share alone, less than dense training.
    sparse_share = expected / sum(layer_flops(model, (3, 32, 32)).values())
    assert sparse_share / 2 < m["relative_train_flops"] < 1


@pytest.mark.slow
def test_a_probmask_run_resumed_from_its_checkpoint_file_ends_the_same(tmp_path):
    cfg = parse("gin/digits/swast_cut.gin", bindings=("pruner = 'probmask'", "epochs = 6",
                                                       "train.selection_interval = 2"))

    def finish(training):
        while not training.done:
            training.run_epoch()
        return [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in training.history], training.metrics()

    first = build(cfg)
    for _ in range(3):
        first.run_epoch()
    files.save_torch(tmp_path / "checkpoint.pt", first.state_dict())
    resumed = build(cfg)
    resumed.load_state_dict(torch.load(tmp_path / "checkpoint.pt", weights_only=True))
    assert finish(resumed) == finish(build(cfg))
