"""No binding is ever ignored: what the user binds and nothing in the run reads stops the run with one line,
exit 2, and no run folder; the repository's own defaults do not count."""

import pytest
from conftest import parse

from harness import run

CASES = [  # (experiment, binding, what the one line says)
    ("dense", "prune_rate = 0.7", "nothing in this run reads %prune_rate (method 'dense' reads no macros)"),
    ("dense", "coreset_fraction = 0.3", "nothing in this run reads %coreset_fraction"),
    ("pruning_only", "coreset_fraction = 0.3",
     "nothing in this run reads %coreset_fraction (method 'pruning_only' reads %prune_rate, %pruner, "
     "%state_preservation)"),
    ("pruning_only", "selector = 'craig'", "nothing in this run reads %selector"),
    ("coreset_only", "pruner = 'probmask'", "nothing in this run reads %pruner"),
    ("swast_cut", "prune_rat = 0.7", "nothing in this run reads %prune_rat; did you mean %prune_rate?"),
    ("swast_cut", "coreset_fracton = 0.2", "did you mean %coreset_fraction?"),
    ("swast_trim", "state_preservaton = 'complete'", "did you mean %state_preservation?"),
    ("swast_cut", "selectors.gradmatch.lam = 0.1",
     "selectors.gradmatch.lam is not used by this run (its selector is 'random')"),
    ("swast_cut", "pruners.probmask.score_lr = 0.1",
     "pruners.probmask.score_lr is not used by this run (its pruner is 'rigl')"),
    ("coreset_only", "preservation.weight = 0.5",
     "preservation.weight is not used by this run (it has no state preservation: state_preservation = 'none')"),
    ("dense", "sparsity.fc_rate = 0.5", "sparsity.fc_rate is not used by this run (it prunes nothing)"),
    ("swast_cut", "datasets.cifar10.source = 'folder'",
     "datasets.cifar10.source is not used by this run (its dataset is 'digits')"),
    ("swast_cut", "models.resnet101.width = 0.5", "models.resnet101.width is not used by this run (its model is "
                                                   "'resnet18')"),
    ("swast_cut", "methods.coreset_only.selector = 'craig'",
     "methods.coreset_only.selector is not used by this run (its method is 'swast_cut')"),
]


@pytest.mark.parametrize("experiment, binding, says", CASES, ids=[f"{e}:{b.split(' =')[0]}" for e, b, _ in CASES])
def test_a_binding_nothing_reads_stops_the_run_with_one_line(experiment, binding, says, tmp_path, capsys):
    out = tmp_path / "runs"
    code = run.main([f"gin/digits/{experiment}.gin", "--gin_param", binding, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"error: --gin_param {binding!r}: {err.split(': ', 2)[2]}" and err.count("\n") == 1
    assert says in err
    assert not out.exists()


def test_a_users_file_and_the_files_it_includes_count_and_say_where(tmp_path, capsys):
    (tmp_path / "mine.gin").write_text(f"include 'gin/digits/coreset_only.gin'\ninclude '{tmp_path}/more.gin'\n")
    (tmp_path / "more.gin").write_text("# my settings\nselector = 'el2n'\nprune_rate = 0.3\n")
    code = run.main([str(tmp_path / "mine.gin"), "--out", str(tmp_path / "runs")])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: more.gin, line 3: nothing in this run reads %prune_rate (method 'coreset_only' reads "
        "%coreset_fraction, %selector, %state_preservation)\n")
    assert not (tmp_path / "runs").exists()


def test_what_the_run_reads_is_accepted_and_the_repositorys_defaults_do_not_count():
    # gin/scale/smoke.gin binds ProbMask's and magnitude's settings, base.gin preservation.weight: none of
    # them are read by a dense run, and none of them are the user's.
    cfg = parse("gin/digits/dense.gin", "gin/scale/smoke.gin", bindings=("epochs = 3", "width = 0.25",
                                                                          "train.lr = 0.1", "runtime.threads = 1"))
    assert cfg.train.epochs == 3 and cfg.train.lr == 0.1
    cfg = parse("gin/digits/swast_cut.gin", bindings=("prune_rate = 0.7", "selector = 'gradmatch'",
                                                      "selectors.gradmatch.lam = 0.1", "preservation.weight = 0.2",
                                                      "pruners.rigl.delta_t = 10", "sparsity.fc_rate = 0.8"))
    assert cfg.method.prune_rate == 0.7 and cfg.preservation.weight == 0.2 and cfg.sparsity.fc_rate == 0.8


def test_a_macro_read_through_another_macro_counts(tmp_path):
    (tmp_path / "chained.gin").write_text("include 'gin/digits/swast_cut.gin'\nmy_rate = 0.7\nprune_rate = %my_rate\n")
    assert parse(str(tmp_path / "chained.gin")).method.prune_rate == 0.7


def test_a_run_folders_config_gin_runs_again_without_complaint(tmp_path):
    cfg = parse("gin/digits/coreset_only.gin", bindings=("selector = 'el2n'",))
    (tmp_path / "config.gin").write_text(cfg.config_gin)
    assert parse(str(tmp_path / "config.gin")).key == cfg.key
