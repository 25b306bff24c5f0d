"""The shared mask mechanism and the budgets every pruner must meet (issue 3, point 1)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from harness.core import registry
from harness.core.sections import SparsitySettings
from harness.models import resnet
from harness.training.pruning import cubic_ramp
from harness.training.sparsity import budget_groups, layer_targets


def small_model(seed: int = 0):
    torch.manual_seed(seed)
    return resnet.resnet10(num_classes=4, in_channels=3, width=0.25)


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)


def attached(name: str, total: int, rate: float = 0.7, scope: str = "backbone", optimizer=sgd, seed: int = 0,
             **kwargs):
    model = small_model(seed)
    opt = optimizer(model)
    pruner = registry.build("pruner", name, **kwargs)
    targets = layer_targets(model, rate, scope, SparsitySettings())
    # one step per epoch: the step and epoch clocks agree, so schedules read the same on either
    pruner.attach(model, opt, targets, budget_groups(targets, model, scope), [1] * total, seed=seed)
    return model, opt, pruner


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 3, 8, 8, generator=g), torch.randint(0, 4, (16,), generator=g)


def train_step(model, opt, pruner, step: int, data=None) -> bool:
    """One step as the loop takes it; returns whether the pruner replaced the optimizer step."""
    x, y = data if data is not None else batch(step)
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    replaced = pruner.before_step(step)
    if not replaced:
        opt.step()
    pruner.after_step(step)
    return replaced


def assert_masked(pruner, opt, zeros: dict[str, int]):
    for name, p in pruner.params.items():
        mask = pruner.masks[name]
        assert int((~mask).sum()) == zeros[name], name
        assert pruner.zeros[name] == zeros[name]
        assert (p[~mask] == 0).all()
        for value in opt.state[p].values():
            if torch.is_tensor(value) and value.shape == p.shape:
                assert (value[~mask] == 0).all()


def test_rigl_holds_each_layers_exact_count_of_zeros_after_every_step():
    total = 24
    model, opt, pruner = attached("rigl", total, delta_t=4)
    final = {n: round(pruner.targets[n] * p.numel()) for n, p in pruner.params.items()}
    assert len(pruner.params) >= 5 and all(final.values())
    updates = 0
    for step in range(total):
        updates += train_step(model, opt, pruner, step)
        assert_masked(pruner, opt, final)
    assert updates == pruner.updates == 4  # t = 4, 8, 12, 16 < T_end = 18


def test_magnitude_holds_the_scheduled_count_of_zeros_after_every_step():
    total, delta = 40, 3
    model, opt, pruner = attached("magnitude", total, begin=0.1, end=0.6, delta_t=delta)
    first, last = 4, 24  # 0.1 * 40, 0.6 * 40
    prune_points = [d for d in range(first, last + 1) if (d - first) % delta == 0 or d == last]
    previous = {n: m.clone() for n, m in pruner.masks.items()}
    for step in range(total):
        train_step(model, opt, pruner, step)
        done = step + 1
        reached = max([d for d in prune_points if d <= done], default=None)
        fraction = 0.0 if reached is None else 1 - (1 - (reached - first) / (last - first)) ** 3
        expected = {n: int(p.numel() * pruner.targets[n] * fraction + 0.5) for n, p in pruner.params.items()}
        assert_masked(pruner, opt, expected)
        for name, mask in pruner.masks.items():
            assert not (previous[name] < mask).any(), "a pruned weight came back"
        previous = {n: m.clone() for n, m in pruner.masks.items()}
    assert {n: int((~m).sum()) for n, m in pruner.masks.items()} == {
        n: round(pruner.targets[n] * p.numel()) for n, p in pruner.params.items()}


@pytest.mark.parametrize("name", ["rigl", "magnitude"])
def test_adam_moments_are_masked_too(name):
    adam = lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1)  # noqa: E731
    model, opt, pruner = attached(name, 12, optimizer=adam, delta_t=2)
    for step in range(12):
        train_step(model, opt, pruner, step)
        for n, p in pruner.params.items():
            state = opt.state[p]
            assert (p[~pruner.masks[n]] == 0).all()
            assert (state["exp_avg"][~pruner.masks[n]] == 0).all()
            assert (state["exp_avg_sq"][~pruner.masks[n]] == 0).all()


def forward_interventions(model, opt) -> list[str]:
    """Everything through which a pruner could act other than the masks applied after the step: module
    hooks, parametrizations, hooks on the weights, a replaced or hooked optimizer step."""
    found = []
    for name, module in model.named_modules():
        for kind in ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks"):
            if getattr(module, kind):
                found.append(f"{name or 'model'}.{kind}")
        if parametrize.is_parametrized(module):
            found.append(f"{name or 'model'} is parametrized")
    for name, p in model.named_parameters():
        if p._backward_hooks or getattr(p, "_post_accumulate_grad_hooks", None):
            found.append(f"{name} has tensor hooks")
    if "step" in vars(opt):
        found.append("optimizer.step replaced")
    if opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks:
        found.append("optimizer step hooks")
    return found


@pytest.mark.parametrize("name", ["rigl", "magnitude"])
def test_hard_mask_pruners_add_no_hooks_or_parametrizations(name):
    model, opt, pruner = attached(name, 12, delta_t=2, **({"begin": 0.0} if name == "magnitude" else {}))
    assert pruner.params
    assert forward_interventions(model, opt) == []
    changed = pruner.version
    for step in range(4):  # mask updates at t = 2 and 4
        train_step(model, opt, pruner, step)
    assert pruner.version > changed and any(int((~m).sum()) for m in pruner.masks.values())
    assert forward_interventions(model, opt) == []
    model, opt, pruner = attached("probmask", 12)  # the check sees the one pruner that does act on the forward
    assert forward_interventions(model, opt) and parametrize.is_parametrized(model.fc, "weight")


def test_layers_the_layout_leaves_dense_get_no_mask():
    model, opt, pruner = attached("rigl", 10, rate=0.9)
    dense = [n for n, s in pruner.targets.items() if s == 0]
    assert dense and not set(dense) & set(pruner.params)  # ERK made the stem dense: nothing to apply there
    assert all(pruner.density_by_layer()[n] == 1.0 for n in dense)


def test_probmask_final_hard_mask_meets_the_budget_of_each_group():
    total = 30
    model, opt, pruner = attached("probmask", total, rate=0.8, score_lr=0.2)
    sizes = {n: p.numel() for n, p in pruner.params.items()}
    groups = {"fc": ["fc.weight"], "backbone": [n for n in pruner.params if n != "fc.weight"]}
    keep = {g: 1 - sum(pruner.targets[n] * sizes[n] for n in names) / sum(sizes[n] for n in names)
            for g, names in groups.items()}
    assert keep["fc"] == pytest.approx(0.1, abs=0.001) and keep["backbone"] < 0.2  # ERK left some layers dense
    for step in range(total):
        assert not pruner.hard
        train_step(model, opt, pruner, step)
    assert pruner.hard
    for group, names in groups.items():
        kept = sum(int(pruner.masks[n].sum()) for n in names) / sum(sizes[n] for n in names)
        assert abs(kept - keep[group]) <= 0.005, group
    per_layer = [int(pruner.masks[n].sum()) / sizes[n] for n in groups["backbone"]]
    assert max(per_layer) - min(per_layer) > 0.01  # the split between layers is learned, not the layout's
    for n, p in pruner.params.items():
        assert (p[~pruner.masks[n]] == 0).all()
        assert (model.state_dict()[n.replace("weight", "parametrizations.weight.original")] == p).all()


def test_cubic_ramp():
    assert [cubic_ramp(d, 10, 20) for d in (0, 10, 15, 20, 30)] == [0.0, 0.0, 0.875, 1.0, 1.0]
    assert math.isclose(cubic_ramp(12, 10, 20), 1 - 0.8**3)
