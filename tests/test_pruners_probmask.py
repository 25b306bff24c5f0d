"""ProbMask: the projection, the masks evaluation and training use, the schedules, and resuming."""

import pytest
import torch
from test_pruners import attached, batch, train_step

from harness.core.errors import ConfigError
from harness.core.registry import build
from methods.pruners.probmask import _shift


def test_projection_shift_meets_the_budget_by_bisection():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(10_000, generator=g)
    for budget in (100, 2_500, 4_999):
        v = _shift(s, budget, steps=30)
        projected = (s - v).clamp(0, 1)
        assert float(projected.sum()) <= budget and float(projected.sum()) == pytest.approx(budget, abs=0.01)
        assert torch.allclose(projected[s > v], s[s > v] - v)  # one shift for the whole group
    assert float(_shift(s, 6_000, steps=30)) == 0.0  # the budget already holds: nothing moves


def test_scores_follow_the_cubic_budget_of_each_group_and_temperature_anneals():
    total = 20
    model, opt, pruner = attached("probmask", total, rate=0.8, begin=0.2, end=0.6)
    n = {g: s.numel() for g, s in pruner.scores.items()}
    zeros = pruner.group_zeros
    temperatures = []
    for step in range(total - 1):
        train_step(model, opt, pruner, step)
        done = step + 1
        ramp = 1 - (1 - min(max((done - 4) / (12 - 4), 0), 1)) ** 3
        for group, scores in pruner.scores.items():
            scores = scores.detach()
            budget = n[group] - int(zeros[group] * ramp + 0.5)
            assert float(scores.min()) >= 0 and float(scores.max()) <= 1
            assert float(scores.sum()) <= budget + 1e-4 * n[group]
            if done == 5:  # the first budget below the scores' sum: projected onto it
                assert budget < n[group] and float(scores.sum()) == pytest.approx(budget, rel=1e-4)
        temperatures.append(pruner.temperature)
    assert temperatures[0] == pytest.approx(1 - 0.97 / total) and temperatures[-1] == pytest.approx(0.03 + 0.97 / total)


def test_evaluation_uses_the_top_scores_at_the_current_budget_and_training_a_fresh_sample():
    model, opt, pruner = attached("probmask", 20, rate=0.8, begin=0.0, end=0.5)
    for step in range(6):
        train_step(model, opt, pruner, step)
    x, _ = batch(99)
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)  # evaluation is deterministic
    for group, names in pruner.groups.items():
        kept = sum(int(pruner.eval_mask(n).sum()) for n in names)
        assert kept == pruner.budget(group, 6)
        scores = {n: pruner.scores_of(n).detach() for n in names}
        threshold = min(float(scores[n][pruner.eval_mask(n)].min()) for n in names)
        assert all(float(scores[n][~pruner.eval_mask(n)].max()) <= threshold for n in names)
    name = next(iter(pruner.params))
    module = dict(model.named_modules())[name.rsplit(".", 1)[0]]
    assert torch.equal(module.weight, pruner.params[name] * pruner.eval_mask(name))
    density = pruner.density_by_layer()
    assert density[name] == pytest.approx(float(pruner.eval_mask(name).float().mean()))
    assert pruner.train_density() == dict.fromkeys(pruner.targets, 1.0)  # training is dense
    model.train()
    w1, w2 = module.weight, module.weight
    assert not torch.equal(w1, w2) and w1.requires_grad  # a fresh binary-concrete sample per forward


def test_hard_after_freezes_the_mask_and_the_shared_mechanism_keeps_it():
    total = 20
    model, opt, pruner = attached("probmask", total, rate=0.8, begin=0.1, end=0.5, hard_after=0.6)
    for step in range(12):
        train_step(model, opt, pruner, step)
    assert pruner.hard and pruner.train_density() == pruner.density_by_layer()
    frozen = {n: m.clone() for n, m in pruner.masks.items()}
    for step in range(12, total):
        train_step(model, opt, pruner, step)
        for n, p in pruner.params.items():
            assert torch.equal(pruner.masks[n], frozen[n]) and (p[~frozen[n]] == 0).all()


def test_a_resumed_probmask_run_continues_exactly():
    def run(steps, state=None):
        model, opt, pruner = attached("probmask", 16, rate=0.8, begin=0.0, end=0.5)
        start = 0
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            pruner.load_state_dict(state["pruner"])
            start = state["step"]
        for step in range(start, steps):
            train_step(model, opt, pruner, step)
        return model, opt, pruner

    straight, _, _ = run(10)
    model, opt, pruner = run(5)
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "pruner": pruner.state_dict(), "step": 5}
    resumed, _, _ = run(10, state)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_bad_probmask_arguments_are_config_errors():
    for kwargs, message in [({"begin": 0.7, "end": 0.6}, "0 <= begin < end <= 1"),
                            ({"temperature_end": 2.0}, "temperature_end <= temperature_start"),
                            ({"hard_after": 0.5}, r"hard_after must be in \[end, 1\]"),
                            ({"bisection_steps": 0}, "bisection_steps must be an integer")]:
        with pytest.raises(ConfigError, match=message):
            build("pruner", "probmask", **kwargs)


def test_a_layout_with_nothing_to_prune_leaves_probmask_idle():
    model, opt, pruner = attached("probmask", 4, rate=0.0, scope="fc")
    assert pruner.hard and not pruner.params and not pruner.scores
    for step in range(2):
        train_step(model, opt, pruner, step)
    assert pruner.density_by_layer() == {"fc.weight": 1.0}
    pruner.load_state_dict(pruner.state_dict())
