import math

import pytest
import torch
from torch import nn

from harness.core.sections import SparsitySettings
from harness.models import resnet
from harness.training.sparsity import apportion, classifier_weight, erk, layer_targets, prunable_weights


def test_prunable_weights_are_conv_and_linear_weights_only():
    model = resnet.resnet18(num_classes=10, in_channels=3, width=0.25)
    names = prunable_weights(model)
    assert "fc.weight" in names and "conv1.weight" in names
    assert not any("bn" in n or n.endswith("bias") for n in names)
    assert classifier_weight(model) == "fc.weight"


def erk_by_bisection(shapes: dict[str, tuple[int, ...]], sparsity: float) -> dict[str, float]:
    """ERK written another way: the scale c with sum_l n_l * min(1, c * raw_l) = (1 - sparsity) * sum_l n_l
    (the left side increases with c, so c is unique), and density_l = min(1, c * raw_l)."""
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    raw = {n: sum(s) / sizes[n] for n, s in shapes.items()}
    keep = (1 - sparsity) * sum(sizes.values())
    lo, hi = 0.0, 1.0 / min(raw.values())
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(sizes[n] * min(1.0, mid * raw[n]) for n in shapes) < keep else (lo, mid)
    return {n: min(1.0, hi * raw[n]) for n in shapes}


@pytest.mark.parametrize("rate", [0.9, 0.7, 0.5, 0.3, 0.1])
def test_erk_densities_of_cifar_resnet18_equal_an_independent_computation(rate):
    model = resnet.resnet18(num_classes=10, in_channels=3)
    shapes = {n: tuple(p.shape) for n, p in prunable_weights(model).items() if n != "fc.weight"}
    expected = erk_by_bisection(shapes, rate)
    density = {n: 1 - s for n, s in erk(shapes, rate).items()}
    assert density == pytest.approx(expected, abs=1e-9)
    if rate == 0.9:  # the layers that would go above density 1 are the stem and two 1x1 shortcuts
        promoted = sorted(n for n, d in expected.items() if d == 1.0)
        assert promoted == ["conv1.weight", "layers.2.shortcut.0.weight", "layers.4.shortcut.0.weight"]
        assert {n: density[n] for n in promoted} == dict.fromkeys(promoted, 1.0)
    # the run's targets are the same densities, rounded to whole weights per layer
    targets = layer_targets(model, rate, "backbone", SparsitySettings())
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    for n in shapes:
        assert abs((1 - targets[n]) - expected[n]) <= 1 / sizes[n]


def test_backbone_scope_fixes_the_classifier_outside_the_budget():
    model = resnet.resnet18(num_classes=10, in_channels=3, width=0.25)
    weights = prunable_weights(model)
    sizes = {n: p.numel() for n, p in weights.items()}
    for fc_rate in (0.9, 0.5):
        t = layer_targets(model, 0.5, "backbone", SparsitySettings(fc_rate=fc_rate))
        assert t["fc.weight"] * sizes["fc.weight"] == round(fc_rate * sizes["fc.weight"])
        backbone = {n: size for n, size in sizes.items() if n != "fc.weight"}
        zeros = sum(round(t[n] * size) for n, size in backbone.items())
        assert zeros == round(0.5 * sum(backbone.values()))  # exactly the rate, whatever the classifier does
    assert layer_targets(model, 0.7, "fc", SparsitySettings()) == {"fc.weight": round(0.7 * 1280) / 1280}
    assert layer_targets(model, 0.7, "none", SparsitySettings()) == {}
    uniform = layer_targets(model, 0.3, "all", SparsitySettings(distribution="uniform"))
    assert set(uniform) == set(weights)
    assert all(abs(s - 0.3) <= 1 / sizes[n] for n, s in uniform.items())


def test_every_target_is_a_whole_number_of_weights_and_the_pool_meets_the_rate_exactly():
    model = resnet.resnet18(num_classes=10, in_channels=3, width=0.125)
    sizes = {n: p.numel() for n, p in prunable_weights(model).items()}
    for rate in (0.33, 0.5, 0.77, 0.95):
        t = layer_targets(model, rate, "all", SparsitySettings())
        counts = {n: t[n] * sizes[n] for n in t}
        assert all(abs(c - round(c)) < 1e-6 for c in counts.values())
        assert sum(round(c) for c in counts.values()) == int(rate * sum(sizes.values()) + 0.5)


def test_apportion_keeps_the_total_and_gives_the_largest_remainders_the_extra_units():
    assert apportion({"a": 1.6, "b": 2.3, "c": 0.1}, 4) == {"a": 2, "b": 2, "c": 0}
    assert apportion({"a": 1.5, "b": 1.5}, 3) == {"a": 2, "b": 1}
    assert apportion({"a": 2.0, "b": 0.0}, 2) == {"a": 2, "b": 0}


def test_classifier_must_be_a_layer_named_fc():
    with pytest.raises(ValueError, match="no `fc` classifier"):
        classifier_weight(nn.Sequential(nn.Linear(2, 2)))


def test_cifar_resnet18_parameter_count():
    model = resnet.resnet18(num_classes=10, in_channels=3)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962
    assert model.features(torch.zeros(2, 3, 32, 32)).shape == (2, 512)
