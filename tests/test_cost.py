"""A run's training FLOPs before it runs (harness.training.cost) against what runs record as `train_flops`,
the pruners' planned masks against their masks step by step, and the dry forward against a real one."""

import pytest
import torch
from conftest import parse
from test_flops import Grouped
from test_pruners import attached, train_step

from harness.core import registry
from harness.execution.run_folder import execute
from harness.models import resnet
from harness.training import cost
from harness.training.flops import layer_flops

SHORT = ("epochs = 4", "train.selection_interval = 2", "data.train_limit = 400", "data.test_limit = 100",
         "train.eval_every = 4", "runtime.wandb_mode = 'disabled'")
RUNS = {  # what each covers: (gin file, bindings)
    "swast_cut: rigl, a selection every 2 epochs, state preservation": ("swast_cut", ("coreset_fraction = 0.2",)),
    "coreset_only": ("coreset_only", ("coreset_fraction = 0.2",)),
    "pruning_only: rigl's dense-gradient steps": ("pruning_only", ()),
    "pruning_only: magnitude's ramp": ("pruning_only", ("pruner = 'magnitude'",)),
    "coreset_only: el2n's probe passes": ("coreset_only", ("coreset_fraction = 0.2", "selector = 'el2n'")),
    "swast_cut: glister's validation probe, recording in train mode":
        ("swast_cut", ("coreset_fraction = 0.2", "selector = 'glister'", "preservation.record = 'train'")),
    "swast_cut: the 'cords' rule's random first coreset and skipped epochs":
        ("swast_cut", ("coreset_fraction = 0.5", "train.selection_rule = 'cords'", "epochs = 8")),
}


@pytest.mark.parametrize("what", list(RUNS))
def test_analytic_flops_are_the_train_flops_a_run_records(what, tmp_path):
    method, bindings = RUNS[what]
    cfg = parse(f"gin/digits/{method}.gin", bindings=(*SHORT, *bindings))
    result = execute(cfg, tmp_path)
    planned = cost.run_flops(cfg)
    assert result["status"] == "ok"
    assert planned.total == pytest.approx(result["metrics"]["train_flops"], rel=1e-9)
    assert planned.total / planned.dense_reference == pytest.approx(result["metrics"]["relative_train_flops"],
                                                                    rel=1e-9)
    if "probe" in what or "glister" in what:
        assert planned.probe > 0


def test_probmask_is_within_a_few_percent_its_recording_passes_priced_at_the_layouts_split(tmp_path):
    """ProbMask trains dense until its mask is hard (exact); its recording passes run at the masks it learns,
    priced here at the layout's split of each group's budget."""
    cfg = parse("gin/digits/swast_cut.gin", bindings=(*SHORT, "coreset_fraction = 0.2", "pruner = 'probmask'"))
    recorded = execute(cfg, tmp_path)["metrics"]["train_flops"]
    planned = cost.run_flops(cfg)
    assert planned.total == pytest.approx(recorded, rel=0.05)
    assert planned.recording > 0


def test_seeds_share_one_count_and_parameters_that_change_it_do_not():
    one, other = (parse("gin/digits/swast_cut.gin", bindings=(f"seed = {s}",)) for s in (0, 3))
    assert cost.run_flops(one) == cost.run_flops(other)
    rate = parse("gin/digits/swast_cut.gin", bindings=("prune_rate = 0.9",))
    assert cost.run_flops(rate).total < cost.run_flops(one).total


def test_paper_scale_counts_need_no_data_on_disk(tmp_path):
    cfg = parse("gin/cifar10/swast_cut.gin", bindings=("runtime.data_root = " + repr(str(tmp_path)),))
    shape = cost.data_shape(cfg)
    assert (shape.num_train, shape.num_val, shape.image, shape.classes) == (45_000, 5_000, (3, 32, 32), 10)
    assert cost.run_flops(cfg).total > 0
    imagenet = parse("gin/imagenet/coreset_only.gin", bindings=("datasets.imagenet.size = 160",))
    assert cost.data_shape(imagenet).image == (3, 160, 160)


def test_magnitude_plans_the_masks_it_then_holds_step_by_step():
    model, opt, pruner = attached("magnitude", 30, rate=0.8, begin=0.1, end=0.6, delta_t=3)
    for step in range(30):
        assert pruner.planned_zeros(step) == {n: pruner.zero_counts()[n] for n in pruner.masked}
        before = pruner.version
        train_step(model, opt, pruner, step)
        assert (pruner.version != before) <= (step + 1 in pruner.density_changes())
    assert pruner.planned_zeros(30) == {n: pruner.zero_counts()[n] for n in pruner.masked}


def test_rigl_plans_its_dense_gradient_steps_and_constant_counts():
    model, opt, pruner = attached("rigl", 40, rate=0.8, delta_t=4)
    assert pruner.dense_gradient_steps() == [s for s in range(40) if pruner.dense_gradient(s)]
    assert pruner.density_changes() == [] and len(pruner.dense_gradient_steps()) == 7  # T_end: 30 of 40 steps
    for step in range(40):
        train_step(model, opt, pruner, step)
        assert pruner.planned_density(step + 1) == pruner.density_by_layer()


def test_probmask_plans_dense_training_until_its_mask_is_hard():
    _, _, pruner = attached("probmask", 10, rate=0.8, begin=0.0, end=0.5, hard_after=0.5)
    assert pruner.density_changes() == [5]
    assert set(pruner.planned_train_density(4).values()) == {1.0}
    hard = pruner.planned_train_density(5)
    assert min(hard.values()) < 1.0 and hard == pruner.planned_density(10)


def test_a_pruner_that_does_not_plan_says_so():
    from harness.training.pruning import Pruner

    pruner = Pruner()
    pruner.plan({"w": 0.5}, {"all": ["w"]}, {"w": 10}, [2, 2])
    with pytest.raises(NotImplementedError, match="planned_zeros"):
        pruner.planned_zeros(0)


@pytest.mark.parametrize(("build", "shape"), [
    (lambda: resnet.resnet18(num_classes=10, in_channels=1, width=0.125), (1, 8, 8)),
    (lambda: resnet.resnet101(num_classes=100, in_channels=3, width=0.5), (3, 32, 32)),
    (lambda: resnet.resnet18_imagenet(num_classes=10, in_channels=3), (3, 64, 64)),
    (Grouped, (3, 20, 20)),  # grouped, depthwise and strided convolutions, a positional classifier
])
def test_a_dry_forward_of_an_uninitialised_model_counts_what_a_real_forward_does(build, shape):
    real = layer_flops(build(), shape)
    with cost.uninitialised():
        model = build()
    assert layer_flops(model, shape, dry=True) == real
    assert torch.nn.init.kaiming_normal_ is not cost._unchanged  # restored


def test_layer_counts_are_kept_in_the_cache_folder_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    args = ("resnet18", {"width": 0.25}, 7, (3, 16, 16), str(tmp_path))
    layout, dense = cost.model_layers(*args)
    assert (tmp_path / cost.LAYER_CACHE).is_file()
    monkeypatch.setattr(cost, "_MODELS", {})
    monkeypatch.setattr(cost, "layer_flops", None)  # a later process reads the file: no forward
    assert cost.model_layers(*args) == (layout, dense)
    monkeypatch.undo()
    monkeypatch.setattr(cost, "_MODELS", {})
    (tmp_path / cost.LAYER_CACHE).write_text("{not json")
    assert cost.model_layers(*args) == (layout, dense)
    model = registry.entry("model", "resnet18").target(width=0.25, num_classes=7, in_channels=3)
    assert dense == layer_flops(model, (3, 16, 16))
