"""FLOPs: per layer against PyTorch's own counter, sparse scaling, and training cost integrated over a run."""

import pytest
import torch
from conftest import parse
from test_pruners import attached, train_step
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harness.core.sections import SparsitySettings
from harness.execution.run_folder import execute
from harness.models import resnet
from harness.training.flops import TrainingFlops, layer_flops, sparse_flops
from harness.training.sparsity import layer_targets


def torch_flops_by_layer(model: nn.Module, shape) -> dict[str, int]:
    """PyTorch's FLOP counter (two per multiply-accumulate) per Conv/Linear module, keyed by weight name."""
    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *shape))
    root = type(model).__name__
    counts = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            counts[f"{name}.weight"] = sum(counter.get_flop_counts()[f"{root}.{name}"].values())
    assert sum(counts.values()) == counter.get_total_flops()  # nothing else has FLOPs in its count
    return counts


def test_dense_inference_flops_of_cifar_resnet18_match_pytorchs_counter():
    model = resnet.resnet18(num_classes=10, in_channels=3)
    ours = layer_flops(model, (3, 32, 32))
    reference = torch_flops_by_layer(model, (3, 32, 32))
    assert {n: 2 * f for n, f in ours.items()} == reference
    assert sum(ours.values()) == 555_422_720


class Grouped(nn.Module):
    """Grouped and depthwise convolutions, strides, and a classifier applied at every position."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.grouped = nn.Conv2d(16, 32, 3, padding=1, groups=4)
        self.depthwise = nn.Conv2d(32, 32, 5, padding=0, groups=32)
        self.fc = nn.Linear(32, 7)

    def forward(self, x):
        x = self.depthwise(self.grouped(self.stem(x)))
        return self.fc(x.flatten(2).transpose(1, 2)).mean(1)


def test_grouped_convolutions_and_positional_linears_match_pytorchs_counter():
    model = Grouped()
    assert {n: 2 * f for n, f in layer_flops(model, (3, 20, 20)).items()} == torch_flops_by_layer(model, (3, 20, 20))


def test_sparse_flops_scale_per_layer_with_density():
    model, opt, pruner = attached("rigl", 10, rate=0.8)
    dense = layer_flops(model, (3, 8, 8))
    reference = torch_flops_by_layer(model, (3, 8, 8))
    density = pruner.density_by_layer()
    for name, p in dict(model.named_parameters()).items():
        if name in dense:
            nonzero = int(pruner.masks[name].sum()) if name in pruner.masks else p.numel()
            expected = reference[name] / 2 * nonzero / p.numel()
            assert sparse_flops({name: dense[name]}, density) == pytest.approx(expected)
    assert sparse_flops(dense, density) < sum(dense.values())


def test_rigl_training_cost_per_update_interval_is_the_pinned_formula():
    delta = 4
    model, opt, pruner = attached("rigl", 100, rate=0.8, delta_t=delta)
    dense = layer_flops(model, (3, 8, 8))
    f_d, f_s = sum(dense.values()), sparse_flops(dense, pruner.density_by_layer())
    flops = TrainingFlops(dense, pruner)
    for step in range(3 * delta):  # three intervals, each of delta - 1 sparse steps and one update step
        flops.step(step, samples=16)
        train_step(model, opt, pruner, step)
    assert pruner.updates == 3
    steps = delta - 1  # ordinary steps per update: updates at t = delta, 2 delta, ...
    per_step = (3 * f_s * steps + 2 * f_s + f_d) / (steps + 1)
    assert flops.total == pytest.approx(3 * delta * 16 * per_step)


def test_magnitude_training_cost_follows_its_schedule_step_by_step():
    model, opt, pruner = attached("magnitude", 30, rate=0.8, begin=0.1, end=0.6, delta_t=3)
    dense = layer_flops(model, (3, 8, 8))
    flops = TrainingFlops(dense, pruner)
    expected = 0.0
    for step in range(30):
        nonzero = {n: float(pruner.masks[n].float().mean()) for n in pruner.masks}
        expected += 3 * 16 * sum(f * nonzero.get(n, 1.0) for n, f in dense.items())
        flops.step(step, samples=16)
        train_step(model, opt, pruner, step)
    assert flops.total == pytest.approx(expected)
    final, full = sparse_flops(dense, pruner.density_by_layer()), sum(dense.values())
    assert 3 * 16 * 30 * final < flops.total < 3 * 16 * 30 * full


def test_probmask_trains_dense_until_its_mask_is_hard():
    model, opt, pruner = attached("probmask", 10, rate=0.8, begin=0.0, end=0.5, hard_after=0.5)
    dense = layer_flops(model, (3, 8, 8))
    flops = TrainingFlops(dense, pruner)
    for step in range(10):
        before = flops.total
        flops.step(step, samples=2)
        train_step(model, opt, pruner, step)
        expected = sum(dense.values()) if step < 5 else sparse_flops(dense, pruner.density_by_layer())
        assert flops.total - before == pytest.approx(3 * 2 * expected)


@pytest.mark.slow
def test_a_runs_relative_flops_count_every_training_sample_against_dense_full_data(tmp_path):
    bindings = ("epochs = 4", "train.selection_interval = 2", "data.train_limit = 400", "data.test_limit = 100",
                "train.eval_every = 4")
    dense = execute(parse("gin/digits/dense.gin", bindings=bindings), tmp_path)
    bindings += ("coreset_fraction = 0.2",)  # the methods that select read it; dense would refuse it
    n = dense["data"]["num_train"]
    assert n == 400 and dense["metrics"]["relative_train_flops"] == pytest.approx(1.0)
    model = resnet.resnet18(num_classes=10, in_channels=1, width=0.125)
    f_d = sum(layer_flops(model, (1, 8, 8)).values())
    assert dense["metrics"]["inference_flops"] == f_d
    assert dense["metrics"]["train_flops"] == pytest.approx(3 * f_d * n * 4)

    result = execute(parse("gin/digits/coreset_only.gin", bindings=bindings), tmp_path)
    budget, warmup = 80, 1  # warm-up: ceil(4 * 0.2 / 2) epochs on all the training images
    assert result["selection_epochs"] == [2, 4] and result["warmup_epochs"] == warmup
    samples = warmup * n + (4 - warmup) * budget  # the random selector needs no probe pass
    assert result["metrics"]["relative_train_flops"] == pytest.approx(samples / (4 * n))

    cut = execute(parse("gin/digits/swast_cut.gin", bindings=bindings), tmp_path)["metrics"]
    targets = layer_targets(model, 0.5, "backbone", SparsitySettings())
    f_s = sparse_flops(layer_flops(model, (1, 8, 8)), {name: 1 - s for name, s in targets.items()})
    assert cut["inference_flops"] == pytest.approx(f_s)
    # RigL trains at f_s, plus its dense-gradient steps; state preservation records each coreset once
    lower = (3 * f_s * samples + f_s * budget * 2) / (3 * f_d * 4 * n)
    assert lower < cut["relative_train_flops"] < lower * 1.1


def test_probe_passes_count_in_relative_flops(tmp_path):
    bindings = ("epochs = 4", "train.selection_interval = 2", "coreset_fraction = 0.2", "data.train_limit = 400",
                "data.test_limit = 100", "train.eval_every = 4", "selector = 'el2n'")
    result = execute(parse("gin/digits/coreset_only.gin", bindings=bindings), tmp_path)
    assert result["status"] == "ok"
    n, epochs, warmup = result["data"]["num_train"], len(result["history"]), result["warmup_epochs"]
    rounds = len(result["selection_epochs"])  # EL2N reads one probe pass over the n training images per round
    sizes = [row["coreset_size"] for row in result["history"]]
    k = sizes[-1]
    assert (n, epochs, warmup, rounds, k) == (400, 4, 1, 2, 80) and sizes == [n] * warmup + [k] * (epochs - warmup)
    # coreset_only trains dense: f = f_D per sample and forward, 3 f_D per training sample (flops.py), and one
    # f_D per sample of each probe pass (loop.py, _select). The reference is dense training on all n samples
    # for every epoch: 3 f_D n epochs. So, f_D cancelling,
    #   relative = (3 (warmup n + (epochs - warmup) k) + rounds n) / (3 n epochs)
    m = result["metrics"]
    forwards = 3 * (warmup * n + (epochs - warmup) * k) + rounds * n
    assert m["relative_train_flops"] == pytest.approx(forwards / (3 * n * epochs), rel=1e-12)
    assert m["train_flops"] == pytest.approx(m["inference_flops"] * forwards, rel=1e-12)
