import math

import pytest
import torch

from harness import models
from harness.settings import SparsitySettings
from harness.sparsity import classifier_weight, erk, layer_targets, prunable_weights


def test_prunable_weights_are_conv_and_linear_weights_only():
    model = models.resnet18(num_classes=10, in_channels=3, width=0.25)
    names = prunable_weights(model)
    assert "fc.weight" in names and "conv1.weight" in names
    assert not any("bn" in n or n.endswith("bias") for n in names)
    assert classifier_weight(model) == "fc.weight"


def test_erk_keeps_the_budget_and_makes_small_layers_dense():
    shapes = {"a": (16, 3, 3, 3), "b": (32, 16, 3, 3), "c": (64, 32, 3, 3), "d": (10, 64)}
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    sparsity = erk(shapes, 0.9)
    kept = sum((1 - sparsity[n]) * sizes[n] for n in shapes)
    assert kept == pytest.approx(0.1 * sum(sizes.values()))
    assert all(0.0 <= s < 1.0 for s in sparsity.values())
    # density proportional to sum(dims)/prod(dims) among the layers that are not dense
    sparse = [n for n in shapes if sparsity[n] > 0]
    ratios = [(1 - sparsity[n]) / (sum(shapes[n]) / sizes[n]) for n in sparse]
    assert max(ratios) == pytest.approx(min(ratios))


def test_backbone_scope_fixes_the_classifier_outside_the_budget():
    model = models.resnet18(num_classes=10, in_channels=3, width=0.25)
    t = layer_targets(model, 0.5, "backbone", SparsitySettings(fc_rate=0.9))
    assert t["fc.weight"] == 0.9
    weights = prunable_weights(model)
    backbone = {n: p.numel() for n, p in weights.items() if n != "fc.weight"}
    zeros = sum(t[n] * size for n, size in backbone.items())
    assert zeros / sum(backbone.values()) == pytest.approx(0.5)
    assert layer_targets(model, 0.7, "fc", SparsitySettings()) == {"fc.weight": 0.7}
    assert layer_targets(model, 0.7, "none", SparsitySettings()) == {}
    uniform = layer_targets(model, 0.3, "all", SparsitySettings(distribution="uniform"))
    assert set(uniform) == set(weights) and set(uniform.values()) == {0.3}


def test_cifar_resnet18_parameter_count():
    model = models.resnet18(num_classes=10, in_channels=3)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962
    assert model.features(torch.zeros(2, 3, 32, 32)).shape == (2, 512)
