"""The paper's open readings as switches: each changes exactly what it names (the fidelity issue)."""

import math

import pytest
import torch
from conftest import parse
from torch import nn

from harness import describe
from harness.core import registry
from harness.core.sections import SparsitySettings, TrainSettings
from harness.execution.build import build
from harness.execution.run_folder import execute
from harness.training.schedule import Clock, plan
from harness.training.selection import Coreset, Selector, probe_pass
from harness.training.sparsity import classifier_weight, layer_targets

DIGITS_CUT = "gin/digits/swast_cut.gin"


def paper_schedule(rule: str, fraction: float = 0.1):
    return plan(TrainSettings(epochs=300, selection_rule=rule), fraction, True, num_train=45000,
                budget=round(45000 * fraction))


# -- 1. when selection starts --------------------------------------------------------------------------


def test_explicit_selects_right_after_the_warm_up_and_modulo_at_multiples_of_r():
    explicit, modulo = paper_schedule("explicit", 0.01), paper_schedule("modulo", 0.01)
    assert explicit.warmup_epochs == modulo.warmup_epochs == 2  # ceil(300 * 0.01 / 2)
    assert explicit.selection_epochs[:2] == (3, 23)  # two full-data epochs
    assert modulo.selection_epochs[:2] == (20, 40)  # nineteen
    assert [modulo.batches(t) for t in (19, 20)] == [352, 4]
    assert not explicit.skipped_epochs and explicit.random_epoch is None


def test_cords_warm_start_skips_epochs_then_trains_a_random_subset_until_its_first_selection():
    s = paper_schedule("cords")
    assert s.warmup_epochs == 15  # ceil(floor(0.5 * 300) * 0.1)
    assert s.skipped_epochs == tuple(range(16, 151))
    assert s.random_epoch == 151 and s.selection_epochs == tuple(range(161, 300, 20))
    assert [s.batches(t) for t in (15, 16, 150, 151, 160, 161, 300)] == [352, 0, 0, 36, 36, 36, 36]
    assert s.total_steps == 15 * 352 + 150 * 36
    assert s.lr(151) == pytest.approx(0.05 * 0.5 * (1 + math.cos(math.pi * 150 / 300)))  # the skipped epochs' share


@pytest.mark.slow
def test_cords_run_trains_nothing_in_skipped_epochs_and_draws_a_uniform_subset(tmp_path):
    cfg = parse("gin/digits/coreset_only.gin", bindings=("train.selection_rule = 'cords'", "epochs = 24",
                                                          "train.selection_interval = 5"))
    training = build(cfg)
    s = training.schedule
    assert (s.warmup_epochs, s.skipped_epochs, s.random_epoch, s.selection_epochs) == (2, tuple(range(3, 13)), 13,
                                                                                        (16, 21))
    calls, select = [], training.selector.select
    training.selector.select = lambda probe, budget, rng, ctx: calls.append(ctx.epoch) or select(probe, budget,
                                                                                                  rng, ctx)
    while training.epoch < 13:
        training.run_epoch()
    drawn = training.subset  # the random epoch's coreset: the selector was not asked
    assert not calls and len(drawn) == training.budget == len(drawn.indices.unique())
    assert (drawn.weights == 1).all()
    while not training.done:
        training.run_epoch()
    assert calls == [16, 21]
    rows = {r["epoch"]: r for r in training.history}
    assert all(rows[t]["train_loss"] is None and rows[t]["test_accuracy"] is None for t in s.skipped_epochs)
    assert rows[13]["coreset_size"] == training.budget and rows[13]["train_loss"] is not None
    assert rows[12]["coreset_size"] == training.data.num_train  # still the full set, untouched
    assert training.step == s.total_steps == 2 * s.full_batches + 12 * s.coreset_batches


# -- 2. classifier width -------------------------------------------------------------------------------


def nonzero(*bindings: str, experiment: str = "gin/cifar10/swast_cut.gin") -> int:
    return describe.report(parse(experiment, bindings=bindings))["totals"]["nonzero"]


def test_a_1000_way_head_gives_the_papers_parameter_counts():
    assert nonzero("model.head_classes = 1000", experiment="gin/cifar10/dense.gin") == 11_681_832
    assert nonzero(experiment="gin/cifar10/dense.gin") == 11_173_962
    # Table 1's "Params. After Pruning" row for ResNet-18 is (1 - p) of every weight, the classifier included:
    paper = {0.9: 1.2, 0.7: 3.5, 0.5: 5.8, 0.3: 8.2, 0.1: 10.5}
    for p, millions in paper.items():
        assert round(nonzero("model.head_classes = 1000", f"prune_rate = {p}", f"sparsity.fc_rate = {p}") / 1e6,
                     1) == millions
    # with the classifier at 90%, as SWaST-cut is defined, it is not: 3.4M at 70%
    assert round(nonzero("model.head_classes = 1000", "prune_rate = 0.7") / 1e6, 1) == 3.4


def test_head_classes_widens_only_the_classifier(tmp_path):
    cfg = parse("gin/digits/coreset_only.gin", bindings=("model.head_classes = 16", "epochs = 3"))
    training = build(cfg)
    base = build(parse("gin/digits/coreset_only.gin", bindings=("epochs = 3",)))
    assert training.model.fc.out_features == 16 and base.model.fc.out_features == 10
    assert training.data.num_classes == 10
    wide, narrow = dict(training.model.named_parameters()), dict(base.model.named_parameters())
    assert {n for n in wide if wide[n].shape != narrow[n].shape} == {"fc.weight", "fc.bias"}
    result = execute(cfg, tmp_path)
    assert result["status"] == "ok" and result["metrics"]["test_accuracy"] > 10.0


# -- 3. the pruners' clock -----------------------------------------------------------------------------


def test_the_epoch_clock_counts_epochs_and_skips_over_empty_ones():
    clock = Clock("epochs", [10, 10, 0, 0, 2, 2])
    assert clock.total == 6 and Clock("steps", [10, 10, 0, 0, 2, 2]).total == 24
    assert [clock.time(d) for d in (0, 5, 10, 20, 21, 22, 24)] == [0, 0.5, 1, 4, 4.5, 5, 6]
    assert clock.step_at(3) == 20 and clock.step_at(4.5) == 21 and clock.step_at(1.5) == 15


def attach_rigl(clock: str):
    cfg = parse(DIGITS_CUT, bindings=(f"pruners.rigl.clock = '{clock}'", "epochs = 40"))
    return build(cfg)


def test_rigl_on_the_epoch_clock_ends_its_updates_at_three_quarters_of_the_epochs():
    steps, epochs = attach_rigl("steps"), attach_rigl("epochs")
    s = steps.schedule
    assert s.full_batches > 2 * s.coreset_batches  # the warm-up epochs are the long ones
    first_step = {t: sum(s.epoch_steps[:t - 1]) for t in range(1, s.epochs + 2)}

    def updates(pruner):
        return [t for t in range(1, s.total_steps + 1) if pruner.updates_at(t - 1)]

    assert updates(epochs.pruner)[-1] < first_step[31] <= updates(epochs.pruner)[-1] + 5  # T_end = epoch 30 of 40
    assert updates(steps.pruner)[-1] < int(0.75 * s.total_steps) <= updates(steps.pruner)[-1] + 5
    assert updates(epochs.pruner)[-1] > updates(steps.pruner)[-1]  # coreset epochs are short: later in steps
    # the same cadence (every delta_t steps), the drop fraction cosine in epochs
    t = updates(epochs.pruner)[3]
    assert t % 5 == 0 and epochs.pruner.drop_fraction(t) == pytest.approx(
        0.15 * (1 + math.cos(math.pi * epochs.pruner.clock.time(t) / 30)))


def test_probmask_anneals_per_epoch_by_default_and_per_step_on_the_step_clock():
    def pruner(clock: str):
        bindings = ("pruner = 'probmask'", "epochs = 40", f"pruners.probmask.clock = '{clock}'")
        return build(parse(DIGITS_CUT, bindings=bindings)).pruner

    assert registry.build("pruner", "probmask").clock_kind == "epochs"  # digits' files choose steps (their comment)
    default, steps = pruner("epochs"), pruner("steps")
    assert default.clock.kind == "epochs"
    s = default.clock
    done = s.starts[15]  # the first step of epoch 16
    assert default.temperature_after(done) == pytest.approx(1 - 0.97 * 15 / 40)
    assert steps.temperature_after(done) == pytest.approx(1 - 0.97 * done / s.total_steps)
    assert default.first == pytest.approx(0.16 * 40) and steps.first == int(0.16 * s.total_steps)


def test_magnitude_on_the_epoch_clock_ramps_over_epochs():
    cfg = parse(DIGITS_CUT, bindings=("pruner = 'magnitude'", "pruners.magnitude.clock = 'epochs'", "epochs = 40"))
    pruner = build(cfg).pruner
    c = pruner.clock
    assert (pruner.first, pruner.last) == (pytest.approx(6.4), pytest.approx(24.0))  # 0.16 and 0.6 of 40 epochs
    assert pruner.first_step == c.step_at(6.4) and pruner.last_step == c.starts[24]
    mid = c.starts[15]
    assert pruner.schedule(mid) == pytest.approx(1 - (1 - (15 - 6.4) / (24 - 6.4)) ** 3)


# -- 4. state-preservation targets ---------------------------------------------------------------------


class NoNorm(nn.Module):
    """A small convolutional network without BatchNorm: its train-mode forward does not depend on the batch."""

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def features(self, x):
        return torch.relu(self.conv(x)).mean((2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


@pytest.fixture
def no_norm_model(request):
    registry.register("model", "no_norm_for_tests")(lambda num_classes, in_channels: NoNorm(num_classes, in_channels))
    request.addfinalizer(lambda: registry._ENTRIES["model"].pop("no_norm_for_tests"))  # other tests list models


def recordings(model: str, *bindings: str) -> list[float]:
    cfg = parse(DIGITS_CUT, bindings=(f"experiment.model = '{model}'", "epochs = 12", *bindings))
    training = build(cfg)
    while not training.done:
        training.run_epoch()
    rows = [r for r in training.history if r["epoch"] in training.schedule.selection_epochs]
    assert rows and all(r["sp_kl_at_record"] is not None for r in rows)
    assert all(r["sp_kl_at_record"] is None for r in training.history if r not in rows)
    return [r["sp_kl_at_record"] for r in rows]


def test_recording_in_train_mode_on_the_training_views_leaves_no_mismatch_at_the_recording_weights(no_norm_model):
    assert max(recordings("no_norm_for_tests", "preservation.record = 'train'")) < 1e-6
    # the default, eval-mode logits of un-augmented images, against train-mode BatchNorm on augmented views
    assert min(recordings("resnet18")) > 0.01


def before_first_selection(*bindings: str):
    """A digits SWaST-cut run trained up to its first selection epoch, and that epoch."""
    training = build(parse(DIGITS_CUT, bindings=("epochs = 6", *bindings)))
    t = training.schedule.selection_epochs[0]
    while training.epoch < t - 1:
        training.run_epoch()
    return training, t


def test_train_mode_targets_are_what_the_first_training_step_computes():
    training, t = before_first_selection("preservation.record = 'train'")
    first, forward = [], training.forward
    training.forward = lambda x: first.append(forward(x)) or first[-1]
    training.run_epoch()  # selects, records, then trains epoch t
    pos = next(iter(training._epoch_batches(t)))[0]
    recorded = training.preservation.targets[pos]
    assert torch.allclose(torch.log_softmax(first[0].detach(), 1), recorded, atol=1e-5)


def test_the_check_at_recording_leaves_training_as_it_was():
    training, t = before_first_selection("pruner = 'probmask'")
    training.model.eval()
    buffers = [b.clone() for b in training.model.buffers()]
    sampler = training.pruner.forward_generator().get_state()
    assert len(list(training._training_forward(t))) == training.schedule.full_batches
    assert not training.model.training and torch.equal(training.pruner.forward_generator().get_state(), sampler)
    assert all(torch.equal(a, b) for a, b in zip(buffers, training.model.buffers(), strict=True))


def test_coreset_weighting_weights_the_kl_as_the_cross_entropy_is():
    from harness.training.preservation import StatePreservation

    logits, labels = torch.randn(4, 3), torch.zeros(4, dtype=torch.long)
    moved, pos, w = torch.randn(4, 3), torch.arange(4), torch.tensor([1.0, 3.0, 0.5, 2.0])
    uniform, weighted = StatePreservation("complete", 0.1), StatePreservation("complete", 0.1, "coreset")
    for sp in (uniform, weighted):
        sp.record(logits, labels)
    per_sample = torch.stack([uniform.kl(moved[i:i + 1], pos[i:i + 1], w[i:i + 1]) for i in range(4)])
    assert uniform.kl(moved, pos, w) == pytest.approx(float(per_sample.mean()))
    assert weighted.kl(moved, pos, w) == pytest.approx(float((per_sample * w).sum() / w.sum()))
    assert weighted.kl(moved, pos, torch.ones(4)) == pytest.approx(float(uniform.kl(moved, pos, w)))


# -- 5. probe precision --------------------------------------------------------------------------------


class Capture(Selector):
    def select(self, probe, budget, rng, ctx):
        self.probe = probe
        return Coreset(torch.arange(budget), torch.ones(budget))


def probe_against_float32(probe_precision: str) -> float:
    cfg = parse("gin/digits/coreset_only.gin", bindings=("runtime.precision = 'bf16'", "epochs = 4",
                                                         f"train.probe_precision = '{probe_precision}'"))
    training = build(cfg)
    assert training.fastpath.precision == "bf16"
    training.selector = Capture()
    training._select(training.schedule.selection_epochs[0])
    reference = probe_pass(training.model, training.data.train_x, training.data.train_y, training.normalize, 256)
    return float((training.selector.probe.logits - reference.logits).abs().max())


def test_the_probe_runs_in_float32_under_a_bf16_training_forward():
    assert probe_against_float32("fp32") < 1e-5
    assert probe_against_float32("bf16") > 1e-3


# -- 6. the pruning-only baseline's classifier ---------------------------------------------------------


def test_pruning_only_prunes_the_classifier_at_fc_rate_or_inside_the_budget():
    def targets(scope: str):
        cfg = parse("gin/cifar10/pruning_only.gin", bindings=("prune_rate = 0.5", f"methods.pruning_only.scope = "
                                                                                  f"'{scope}'"))
        rep = describe.report(cfg)
        return {r["name"]: r for r in rep["layers"]}, rep["groups"]

    (cut_layers, cut), (all_layers, every) = targets("backbone"), targets("all")
    assert cut_layers["fc.weight"]["density"] == pytest.approx(0.1)
    assert cut["backbone"]["nonzero"] == round(0.5 * cut["backbone"]["params"])
    assert all_layers["fc.weight"]["density"] == 1.0  # ERK keeps the small classifier dense within the budget
    assert every["backbone"]["nonzero"] + every["fc"]["nonzero"] == round(0.5 * sum(g["params"]
                                                                                  for g in every.values()))
    shared = [n for n in cut_layers if n != "fc.weight"]
    assert any(cut_layers[n]["density"] != all_layers[n]["density"] for n in shared)


def test_fig6_prunes_its_baseline_with_default_rigl_settings_and_table3_like_swast_cut():
    from benchmarks import fig6, table3

    def scopes(suite):
        return {p.spec["method"]: parse(*p.files, bindings=p.bindings).method.scope
                for p in suite.SUITE.plan("smoke", 1) if p.spec["method"] in ("pruning_only", "swast_cut")}

    assert scopes(fig6) == {"pruning_only": "all", "swast_cut": "backbone"}
    assert scopes(table3) == {"pruning_only": "backbone", "swast_cut": "backbone"}


# -- the ProbMask scope fix ----------------------------------------------------------------------------


@pytest.mark.slow
def test_probmask_scores_every_prunable_layer_and_learns_its_own_split(tmp_path):
    cfg = parse(DIGITS_CUT, bindings=("pruner = 'probmask'", "prune_rate = 0.3"))
    training = build(cfg)
    pruner, model = training.pruner, training.model
    erk = layer_targets(model, 0.3, "backbone", SparsitySettings())
    fc = classifier_weight(model)
    assert sum(1 for s in erk.values() if s == 0) > 0  # ERK leaves some layers dense at 30% ...
    assert set(pruner.slices) == set(erk)  # ... and ProbMask scores them all the same
    while not training.done:
        training.run_epoch()
    sizes = pruner.sizes
    zeros = pruner.zero_counts()
    backbone = [n for n in erk if n != fc]
    assert sum(zeros[n] for n in backbone) == round(0.3 * sum(sizes[n] for n in backbone))
    assert zeros[fc] == round(0.9 * sizes[fc])
    learned = pruner.density_by_layer()
    assert any(abs(learned[n] - (1 - erk[n])) > 0.05 for n in backbone)
    assert any(learned[n] < 1.0 for n in backbone if erk[n] == 0)  # layers ERK keeps dense lose weights too
