"""Every value checked before anything is loaded or written: a bad type or range is one line, exit 2, and no
folder left behind (issue: reliability)."""

import pytest

from harness import run

BAD = [  # (experiment, binding, what the line names)
    ("swast_cut", "train.lr = 'fast'", "train.lr must be a number, got 'fast'"),
    ("swast_cut", "label_noise = 'x'", "data.label_noise must be a number, got 'x'"),
    ("swast_cut", "prune_rate = 'half'", "methods.swast_cut.prune_rate must be a number, got 'half'"),
    ("swast_cut", "width = 'wide'", "models.resnet18.width must be a number > 0, got 'wide'"),
    ("swast_cut", "train.momentum = 'x'", "train.momentum must be a number, got 'x'"),
    ("swast_cut", "width = 0", "models.resnet18.width must be a number > 0, got 0"),
    ("swast_cut", "width = -0.5", "models.resnet18.width must be a number > 0"),
    ("swast_cut", "train.lr = 1e400", "train.lr must be a finite number, got inf"),
    ("swast_cut", "train.lr = -0.1", "train.lr must be > 0"),
    ("swast_cut", "train.momentum = 1.5", "train.momentum must be in [0, 1)"),
    ("swast_cut", "train.weight_decay = -1e-4", "train.weight_decay must be >= 0"),
    ("swast_cut", "epochs = 2.5", "train.epochs must be an integer, got 2.5"),
    ("swast_cut", "epochs = 0", "epochs must be an integer >= 1"),
    ("swast_cut", "train.batch_size = '32'", "train.batch_size must be an integer, got '32'"),
    ("swast_cut", "train.batch_size = 0", "train.batch_size must be an integer >= 1"),
    ("swast_cut", "train.nesterov = 1", "train.nesterov must be True or False, got 1"),
    ("swast_cut", "train.selection_interval = 0", "train.selection_interval must be an integer >= 1"),
    ("swast_cut", "train.warmup_kappa = 2.0", "train.warmup_kappa must be in [0, 1]"),
    ("swast_cut", "seed = -1", "seed must be an integer >= 0"),
    ("swast_cut", "seed = 1.5", "experiment.seed must be an integer, got 1.5"),
    ("swast_cut", "label_noise = 1.0", "label_noise must be in [0, 1)"),
    ("swast_cut", "data.val_fraction = -0.1", "data.val_fraction must be in [0, 1)"),
    ("swast_cut", "data.train_limit = 0", "data.train_limit must be a positive integer or None"),
    ("swast_cut", "coreset_fraction = 0.0", "coreset_fraction must be in (0, 1]"),
    ("swast_cut", "coreset_fraction = 1.5", "coreset_fraction must be in (0, 1]"),
    ("swast_cut", "prune_rate = 1.0", "prune_rate must be in [0, 1)"),
    ("swast_cut", "prune_rate = -1e400", "methods.swast_cut.prune_rate must be a finite number, got -inf"),
    ("swast_cut", "preservation.weight = -1.0", "preservation.weight must be >= 0"),
    ("swast_cut", "preservation.weight = 'strong'", "preservation.weight must be a number, got 'strong'"),
    ("swast_cut", "sparsity.fc_rate = 1.2", "sparsity.fc_rate must be in [0, 1)"),
    ("swast_cut", "runtime.threads = 0", "runtime.threads must be an integer >= 1 or None"),
    ("swast_cut", "runtime.threads = 'many'", "runtime.threads must be an integer or None, got 'many'"),
    ("swast_cut", "runtime.eval_batch_size = 0", "runtime.eval_batch_size must be an integer >= 1"),
    ("swast_cut", "runtime.progress = 'yes'", "runtime.progress must be True or False"),
    ("swast_cut", "pruners.rigl.delta_t = 0", "pruners.rigl.delta_t"),
    ("swast_cut", "pruners.rigl.alpha = 1.5", "pruners.rigl.alpha"),
    ("swast_cut", "pruners.rigl.t_end = 'late'", "pruners.rigl.t_end must be a number, got 'late'"),
    ("swast_cut", "model.head_classes = 1",
     "model.head_classes must be None or an integer >= 2"),
    ("swast_cut", "datasets.digits.test_fraction = 2.0",
     "datasets.digits.test_fraction must be a number > 0 and < 1, got 2.0"),
    ("coreset_only", "selector = 'gradmatch'\nselectors.gradmatch.lam = -1", "selectors.gradmatch.lam must be > 0"),
    ("coreset_only", "selector = 'el2n'\nselectors.el2n.switch_at = 2.0", "selectors.el2n.switch_at"),
    ("coreset_only", "selector = 'glister'\nselectors.glister.epsilon = -0.5", "selectors.glister.epsilon"),
    ("coreset_only", "selector = 'ccs'\nselectors.ccs.bins = 0", "selectors.ccs.bins"),
    ("pruning_only", "pruner = 'magnitude'\npruners.magnitude.end = 1.5", "pruners.magnitude"),
    ("pruning_only", "pruner = 'probmask'\npruners.probmask.score_lr = -1.0", "pruners.probmask needs score_lr > 0"),
    ("pruning_only", "pruner = 'probmask'\npruners.probmask.temperature_end = 0.0",
     "pruners.probmask needs 0 < temperature_end"),
]


@pytest.mark.parametrize("experiment, binding, says", BAD, ids=[b.split("\n")[-1] for _, b, _ in BAD])
def test_a_bad_value_is_one_line_exit_2_and_nothing_written(experiment, binding, says, tmp_path, capsys):
    out = tmp_path / "results" / "runs"
    code = run.main([f"gin/digits/{experiment}.gin", "--gin_param", binding, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert says in err
    assert not (tmp_path / "results").exists()


def test_a_dataset_that_is_not_there_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "results" / "runs"
    code = run.main(["gin/cifar10/dense.gin", "gin/scale/smoke.gin", "--gin_param", "runtime.download = False",
                     "--gin_param", f"data_root = '{tmp_path / 'nowhere'}'", "--out", str(out)])
    assert code == 2 and capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "results").exists()
