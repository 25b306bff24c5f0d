"""Selectors inside real runs on `digits`: every selector from one --gin_param (issue 4, point 8), EL2N
under label noise (point 5), the per-round coreset records, selector state across a resume, and the probe pass
that every selector reads (eval mode, no augmentation, current masks, counted as selection time)."""

import copy
import json
import time

import pytest
import torch
from conftest import parse
from test_selectors import _one_thread  # noqa: F401  (autouse: one thread for this module too)

from harness.core.errors import ConfigError
from harness.execution.build import build
from harness.execution.run_folder import execute
from harness.run import main
from harness.training.selection import probe_pass
from methods.coresets._features import el2n

SELECTORS = ["random", "gradmatch", "craig", "glister", "moderate", "el2n", "ccs", "forgetting"]
SHORT = ("epochs = 4", "train.selection_interval = 2", "runtime.progress = False")


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["coreset_only", "swast_cut"])
@pytest.mark.parametrize("name", SELECTORS)
def test_each_selector_runs_both_digits_experiments_from_one_gin_param(name, experiment, tmp_path):
    args = [f"gin/digits/{experiment}.gin", "--gin_param", f"selector = '{name}'", "--out", str(tmp_path)]
    for binding in SHORT:  # shorter runs only; the selector comes from the one --gin_param above
        args += ["--gin_param", binding]
    assert main(args) == 0
    result = json.loads(next(tmp_path.glob("*/result.json")).read_text())
    assert result["status"] == "ok" and result["spec"]["selector"] == name
    assert result["selection_epochs"] == [2, 4]
    assert [row["coreset_size"] for row in result["history"]] == [1294, 129, 129, 129]
    assert result["metrics"]["time_s"]["selection"] > 0
    assert result["metrics"]["test_accuracy"] > 10.0


class Recorder:
    """Wraps a selector: keeps each round's EL2N scores and coreset."""

    def __init__(self, selector):
        self.selector, self.rounds = selector, []

    def __call__(self, probe, budget, rng, ctx):
        coreset = self.selector.__class__.select(self.selector, probe, budget, rng, ctx)
        self.rounds.append((ctx.epoch, self.selector.end(ctx), el2n(probe).cpu(), coreset.indices.cpu()))
        return coreset


@pytest.mark.slow
def test_el2n_on_noisy_digits_takes_the_hardest_early_and_fewer_noisy_samples_late():
    training = build(parse("gin/digits/coreset_only.gin", bindings=("selector = 'el2n'", "label_noise = 0.3")))
    recorder = Recorder(training.selector)
    training.selector.select = recorder
    while not training.done:
        training.run_epoch()
    noisy = training.data.noisy_mask.cpu()
    overall = float(noisy.float().mean())
    assert overall == pytest.approx(0.3, abs=0.01)
    assert [(epoch, end) for epoch, end, _, _ in recorder.rounds] == [(2, "high"), (7, "high"), (12, "low"),
                                                                      (17, "low")]
    for _, end, scores, chosen in recorder.rounds:
        inside = torch.zeros(len(scores), dtype=torch.bool)
        inside[chosen] = True
        if end == "high":  # the highest scores of the current model, which holds the noisy samples too
            assert scores[inside].min() >= scores[~inside].max()
        else:  # after the midpoint: the lowest, and clearly fewer noisy samples than the training set has
            assert scores[inside].max() <= scores[~inside].min()
            assert float(noisy[chosen].float().mean()) < 0.75 * overall  # 0.19 of 0.30 on a 2-core x86 CPU
    assert float(noisy[recorder.rounds[0][3]].float().mean()) > overall


def test_history_records_coreset_noise_ratio_and_overlap_per_round():
    training = build(parse("gin/digits/coreset_only.gin",
                                  bindings=("selector = 'moderate'", "label_noise = 0.2", "epochs = 7",
                                            "train.selection_interval = 2")))
    noisy = training.data.noisy_mask.cpu()
    previous = None
    while not training.done:
        row = training.run_epoch()
        chosen = set(training.subset.indices.tolist())
        assert row["coreset_noise_ratio"] == pytest.approx(sum(bool(noisy[i]) for i in chosen) / len(chosen))
        if row["epoch"] == 1:  # warm-up on the full data
            assert len(chosen) == 1294 and row["coreset_overlap"] is None
        elif row["epoch"] == 2:  # the first coreset: nothing to compare with
            assert row["coreset_overlap"] is None
        elif row["epoch"] in (4, 6):
            assert row["coreset_overlap"] == pytest.approx(len(chosen & previous) / len(chosen))
        else:
            assert row["coreset_overlap"] is None and chosen == previous
        previous = chosen
    assert training.schedule.selection_epochs == (2, 4, 6)


@pytest.mark.slow
def test_forgetting_counts_survive_a_checkpoint_and_the_resumed_run_selects_the_same():
    bindings = ("selector = 'forgetting'", "epochs = 8", "train.selection_interval = 2")
    straight = build(parse("gin/digits/coreset_only.gin", bindings=bindings))
    while not straight.done:
        straight.run_epoch()

    first = build(parse("gin/digits/coreset_only.gin", bindings=bindings))
    for _ in range(5):  # selections at 2 and 4 happened; 6 and 8 come after the resume
        first.run_epoch()
    state = first.state_dict()
    assert state["selector"]["events"].shape == (1294,)
    resumed = build(parse("gin/digits/coreset_only.gin", bindings=bindings))
    resumed.load_state_dict(state)
    while not resumed.done:
        resumed.run_epoch()
    assert torch.equal(resumed.selector.events, straight.selector.events)
    assert torch.equal(resumed.subset.indices, straight.subset.indices)
    assert resumed.selector.events.sum() > 0


def test_glister_without_a_validation_split_is_a_config_error():
    with pytest.raises(ConfigError, match="selector 'glister' needs a validation split"):
        build(parse("gin/digits/coreset_only.gin",
                            bindings=("selector = 'glister'", "data.val_fraction = 0.0")))


def test_probe_pass_is_eval_mode_unaugmented_and_masked(tmp_path, monkeypatch):
    training = build(parse("gin/digits/swast_cut.gin", bindings=("selector = 'el2n'",)))
    model, pruner, data = training.model, training.pruner, training.data
    initial = pruner.version
    training.run_epoch()  # the warm-up epoch: RigL has rewired its masks, BatchNorm has running statistics
    assert pruner.version > initial and training.schedule.selection_epochs[0] == 2
    for name, p in pruner.params.items():
        assert (p[~pruner.masks[name]] == 0).all() and (~pruner.masks[name]).any()
    reference = copy.deepcopy(model)  # the model as the masks define it, in eval mode
    with torch.no_grad():
        for name, p in reference.named_parameters():
            if name in pruner.masks:
                p.mul_(pruner.masks[name])
    reference.eval()
    with torch.no_grad():
        batches = [training.normalize(x) for x in data.train_x.split(training.eval_batch)]
        embeddings = torch.cat([reference.features(x) for x in batches])
        logits = torch.cat([reference(x) for x in batches])
        reference.train()
        train_mode = torch.cat([reference(x) for x in batches])

    for mode in (True, False):
        model.train(mode)
        probe = probe_pass(model, data.train_x, data.train_y, training.normalize, training.eval_batch)
        assert all(m.training == mode for m in model.modules())
        torch.testing.assert_close(probe.logits, logits)
        torch.testing.assert_close(probe.embeddings, embeddings)
        assert not probe.logits.requires_grad and not probe.embeddings.requires_grad
        assert torch.equal(probe.labels, data.train_y) and torch.equal(probe.indices.cpu(), torch.arange(1294))
    assert (probe.logits - train_mode).abs().max() > 1e-2  # a training-mode forward would differ

    calls = []

    def slow_probe(*args, **kwargs):
        calls.append(1)
        time.sleep(0.2)
        return probe_pass(*args, **kwargs)

    monkeypatch.setattr("harness.training.loop.probe_pass", slow_probe)
    result = execute(parse("gin/digits/swast_cut.gin", bindings=(*SHORT, "selector = 'el2n'")), tmp_path)
    assert result["selection_epochs"] == [2, 4] and len(calls) == 2  # one probe pass per round
    assert result["metrics"]["time_s"]["selection"] >= 0.2 * len(calls)  # the probe pass is selection time
