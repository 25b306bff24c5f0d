import pytest
from conftest import parse

from harness import config
from harness.core.errors import ConfigError

CUT = "gin/digits/swast_cut.gin"


def test_canonical_text_lists_every_parameter_and_the_key_is_its_hash():
    import hashlib

    cfg = parse(CUT)
    assert cfg.key == hashlib.sha256(cfg.text.encode()).hexdigest()
    lines = cfg.text.splitlines()
    assert lines == sorted(lines)
    for expected in ("experiment.method = 'swast_cut'", "methods.swast_cut.prune_rate = 0.5",
                     "pruners.rigl.delta_t = 5", "train.weight_decay = 0.0005", "models.resnet18.width = 0.125"):
        assert expected in lines
    assert not any(line.startswith("runtime.") for line in lines)


def test_same_configuration_written_differently_has_the_same_key():
    a = parse(CUT, bindings=("prune_rate = 0.7",))
    b = parse(CUT, bindings=("methods.swast_cut.prune_rate = 0.7", "seed = 0"))
    assert a.key == b.key
    assert parse(CUT).key != a.key


def test_runtime_settings_do_not_change_the_key():
    assert parse(CUT).key == parse(CUT, bindings=("runtime.eval_batch_size = 7", "runtime.wandb_mode = 'online'")).key


def test_config_gin_reproduces_the_run(tmp_path):
    cfg = parse(CUT, bindings=("prune_rate = 0.3", "label_noise = 0.2"))
    path = tmp_path / "config.gin"
    path.write_text(cfg.config_gin)
    again = config.parse([str(path)])
    assert again.key == cfg.key and again.text == cfg.text
    assert again.spec == cfg.spec


def test_macros_reach_the_method_and_spec():
    cfg = parse(CUT, bindings=("prune_rate = 0.7", "coreset_fraction = 0.05", "seed = 3", "label_noise = 0.1"))
    assert cfg.spec == {"dataset": "digits", "model": "resnet18", "method": "swast_cut", "selector": "random",
                        "pruner": "rigl", "coreset_fraction": 0.05, "prune_rate": 0.7, "label_noise": 0.1,
                        "state_preservation": "complete", "fc_rate": 0.9, "seed": 3}
    assert cfg.method.scope == "backbone" and cfg.method.state_preservation == "complete"


def test_unused_plugins_stay_out_of_the_key():
    cfg = parse("gin/digits/coreset_only.gin")
    assert "pruners.none" not in cfg.text and "pruners.rigl" not in cfg.text
    assert "sparsity." not in cfg.text and "preservation." not in cfg.text


@pytest.mark.parametrize(
    "binding, message",
    [
        ("selector = 'nope'", "unknown selector 'nope': not registered (registered: "),
        ("pruner = 'rigel'", "unknown pruner 'rigel': not registered"),
        ("experiment.dataset = 'cifar11'", "unknown dataset 'cifar11': not registered"),
        ("experiment.model = 'resnet19'", "unknown model 'resnet19': not registered"),
        ("experiment.method = 'swast'", "unknown method 'swast': not registered"),
        ("coreset_fraction = 0.0", "coreset_fraction must be in (0, 1], got 0.0"),
        ("coreset_fraction = 1.5", "coreset_fraction must be in (0, 1], got 1.5"),
        ("prune_rate = 1.0", "prune_rate must be in [0, 1), got 1.0"),
        ("prune_rate = -0.1", "prune_rate must be in [0, 1), got -0.1"),
        ("train.epochz = 3", "'train' has no parameter 'epochz' (in --gin_param 'train.epochz = 3'); it takes: epo"),
        ("trainer.epochs = 3", "unknown gin configurable 'trainer' (in --gin_param 'trainer.epochs = 3'); did you"),
        ("state_preservation = 'partial'", "state_preservation must be one of none, complete, selective"),
        ("label_noise = 1.0", "label_noise must be in [0, 1)"),
        ("train.epochs = %epoch", "macro %epoch is used but never set"),
    ],
)
def test_bad_input_is_one_clear_line(binding, message):
    with pytest.raises(ConfigError) as e:
        parse(CUT, bindings=(binding,))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_gin_file_names_what_exists():
    with pytest.raises(ConfigError, match=r"gin file 'gin/digits/swast_kut.gin' not found; .* swast_cut.gin"):
        config.parse(["gin/digits/swast_kut.gin"])


def test_missing_include_is_reported(tmp_path):
    f = tmp_path / "x.gin"
    f.write_text("include 'gin/nothere.gin'\n")
    with pytest.raises(ConfigError, match="gin include 'gin/nothere.gin' not found"):
        config.parse([str(f)])


def test_required_setting_missing(tmp_path):
    f = tmp_path / "x.gin"
    f.write_text("include 'gin/base.gin'\nepochs = 2\nexperiment.model = 'resnet18'\nexperiment.method = 'dense'\n")
    with pytest.raises(ConfigError, match="experiment.dataset is required but not set"):
        config.parse([str(f)])
