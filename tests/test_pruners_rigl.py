"""RigL's semantics, each on a small model (issue 3, point 3)."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import parse
from test_pruners import attached, batch, train_step

from harness.core.errors import ConfigError
from harness.core.registry import build
from harness.execution import build as run_build


def backward(model, opt, step):
    x, y = batch(step)
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def snapshot(pruner, opt):
    return ({n: m.clone() for n, m in pruner.masks.items()},
            {n: p.detach().clone() for n, p in pruner.params.items()},
            {n: opt.state[p]["momentum_buffer"].clone() for n, p in pruner.params.items()})


def test_new_connections_start_at_zero_weight_and_zero_momentum():
    model, opt, pruner = attached("rigl", 40, delta_t=3)
    for step in range(2):
        train_step(model, opt, pruner, step)
    backward(model, opt, 2)
    masks, _, momentum = snapshot(pruner, opt)
    assert all(m.abs().sum() > 0 for m in momentum.values())
    assert pruner.before_step(2)  # t = 3: an update, in place of the optimizer step
    pruner.after_step(2)
    grown = 0
    for name, p in pruner.params.items():
        new = pruner.masks[name] & ~masks[name]
        grown += int(new.sum())
        assert (p[new] == 0).all() and (opt.state[p]["momentum_buffer"][new] == 0).all()
    assert grown > 0
    train_step(model, opt, pruner, 3)  # and from the next step on they train
    assert any((p[pruner.masks[n] & ~masks[n]] != 0).any() for n, p in pruner.params.items())


def test_a_weight_dropped_and_regrown_in_the_same_update_keeps_its_value_and_momentum():
    model, opt, pruner = attached("rigl", 40, delta_t=3)
    for step in range(2):
        train_step(model, opt, pruner, step)
    backward(model, opt, 2)
    name, p = next(iter(pruner.params.items()))
    i = int(pruner.masks[name].flatten().nonzero()[0])
    with torch.no_grad():
        p.view(-1)[i] = 1e-9  # the smallest active magnitude: dropped first
        p.grad.view(-1)[i] = 1e3  # the largest gradient: grown first
    masks, weights, momentum = snapshot(pruner, opt)
    assert pruner.before_step(2)
    pruner.after_step(2)
    assert pruner.masks[name].view(-1)[i]
    assert p.view(-1)[i] == weights[name].view(-1)[i] == 1e-9
    assert opt.state[p]["momentum_buffer"].view(-1)[i] == momentum[name].view(-1)[i] != 0
    kept = masks[name] & pruner.masks[name]
    assert torch.equal(p[kept], weights[name][kept])  # the update replaced the optimizer step


def test_rigl_drops_smallest_magnitude_and_grows_largest_gradient():
    """Each update against an independent computation of the documented rule: drop the k active weights of
    smallest |w|, then grow the k of largest |grad| among the inactive ones, the just-dropped included."""
    total, delta = 40, 3
    model, opt, pruner = attached("rigl", total, delta_t=delta)
    t_end = int(0.75 * total)
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(32, 3, 16, 16, generator=g), torch.randint(0, 4, (32,), generator=g)) for _ in range(9)]
    regrown = checked = 0
    for step in range(9):  # updates at t = 3, 6, 9
        if (step + 1) % delta:
            assert not train_step(model, opt, pruner, step, data[step])
            continue
        x, y = data[step]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        t = step + 1
        f = 0.3 / 2 * (1 + math.cos(math.pi * t / t_end))
        expected = {}
        for name, p in pruner.params.items():
            before = pruner.masks[name].flatten().clone()
            weight, grad = p.detach().abs().flatten(), p.grad.abs().flatten()
            k = int(f * int(before.sum()))
            assert k > 0, name
            active = before.nonzero().flatten()
            by_magnitude = active[weight[active].argsort(stable=True)]
            low = weight[by_magnitude]
            assert low[k - 1] < low[k], (t, name)  # no tie decides the dropped set
            dropped = torch.zeros_like(before)
            dropped[by_magnitude[:k]] = True
            candidates = (~before | dropped).nonzero().flatten()
            by_gradient = candidates[grad[candidates].argsort(descending=True, stable=True)]
            high = grad[by_gradient]
            assert high[k - 1] > high[k] and high[k - 1] > 0, (t, name)  # nor the grown set
            grown = torch.zeros_like(before)
            grown[by_gradient[:k]] = True
            expected[name] = (before & ~dropped) | grown
            assert int(expected[name].sum()) == int(before.sum())
            regrown += int((dropped & grown).sum())
        assert pruner.before_step(step)
        pruner.after_step(step)
        for name, mask in expected.items():
            assert torch.equal(pruner.masks[name].flatten(), mask), (t, name)
            checked += 1
    assert checked == 3 * len(pruner.params) and regrown > 0  # the just-dropped were candidates, and some came back


def test_drop_fraction_follows_the_cosine_schedule():
    total, delta = 60, 4
    model, opt, pruner = attached("rigl", total, delta_t=delta)
    t_end = int(0.75 * total)
    checked = 0
    for step in range(total):
        backward(model, opt, step)
        before = {n: m.clone() for n, m in pruner.masks.items()}
        with torch.no_grad():  # only inactive weights have a gradient: no dropped weight is regrown
            for name, p in pruner.params.items():
                p.grad = (~before[name]).float() * (1 + torch.rand(p.shape))
        if pruner.before_step(step):
            t = step + 1
            f = 0.3 / 2 * (1 + math.cos(math.pi * t / t_end))
            for name, mask in pruner.masks.items():
                active = int(before[name].sum())
                assert int((before[name] & ~mask).sum()) == int(f * active), (t, name)
                assert int((mask & ~before[name]).sum()) == int(f * active)
            checked += 1
        else:
            opt.step()
        pruner.after_step(step)
    assert checked == len(range(delta, t_end, delta)) == 11


def test_no_update_after_t_end_and_updates_every_delta_t_before():
    total, delta = 50, 5
    model, opt, pruner = attached("rigl", total, delta_t=delta, t_end=0.5)
    updated = []
    for step in range(total):
        before = {n: m.clone() for n, m in pruner.masks.items()}
        if train_step(model, opt, pruner, step):
            updated.append(step + 1)
        changed = any(not torch.equal(before[n], m) for n, m in pruner.masks.items())
        assert changed == (step + 1 in updated)
    assert updated == [5, 10, 15, 20] and pruner.updates == 4  # T_end = 25


@pytest.mark.slow
def test_the_number_of_updates_matches_the_steps_the_run_actually_takes(tmp_path):
    cfg = parse("gin/digits/swast_cut.gin", bindings=("epochs = 8", "train.selection_interval = 3"))
    assert cfg.method.pruner == "rigl"
    training = run_build.build(cfg)
    pruner, schedule = training.pruner, training.schedule
    full_data_steps = schedule.epochs * schedule.full_batches
    assert schedule.total_steps < full_data_steps / 2  # counted after coreset subsampling
    assert pruner.total_steps == schedule.total_steps and pruner.end == int(0.75 * schedule.total_steps)
    calls, updated = [], []
    before_step = pruner.before_step

    def counting(step):  # the loop's view: which steps the pruner's update replaced
        calls.append(step)
        replaced = before_step(step)
        if replaced:
            updated.append(step + 1)
        return replaced

    pruner.before_step = counting
    while not training.done:
        training.run_epoch()
    steps = training.step
    assert steps == schedule.total_steps and calls == list(range(steps))
    expected = [t for t in range(1, steps + 1) if t % 5 == 0 and t < int(0.75 * steps)]
    assert updated == expected and len(expected) > 3


def test_bad_rigl_arguments_are_config_errors():
    for kwargs, message in [({"delta_t": 0}, "delta_t must be an integer >= 1"), ({"t_end": 0}, "t_end must be in"),
                            ({"alpha": 2.0}, "alpha must be in")]:
        with pytest.raises(ConfigError, match=message):
            build("pruner", "rigl", **kwargs)
