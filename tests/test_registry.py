import pytest

from harness.core import registry
from harness.core.errors import ConfigError


def test_unknown_name_lists_registered_and_suggests():
    with pytest.raises(ConfigError) as e:
        registry.build("selector", "randm")
    msg = str(e.value)
    assert "unknown selector 'randm': not registered (registered: " in msg and "did you mean 'random'" in msg
    assert "\n" not in msg


def test_unknown_keyword_argument_is_rejected_with_the_allowed_ones():
    allowed = r"pruners.magnitude got unknown argument\(s\) delta; it takes: begin, end, delta_t"
    with pytest.raises(ConfigError, match=allowed):
        registry.build("pruner", "magnitude", delta=3)


def test_build_applies_gin_bindings_and_explicit_arguments():
    import gin

    gin.clear_config()
    gin.parse_config("pruners.magnitude.delta_t = 7")
    assert registry.build("pruner", "magnitude").delta_t == 7
    assert registry.build("pruner", "magnitude", delta_t=3).delta_t == 3
    gin.clear_config()


def test_registering_twice_or_with_var_kwargs_fails():
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("selector", "random")(object)
    with pytest.raises(TypeError, match=r"\*\*kwargs"):
        registry.register("selector", "loose_for_test")(lambda **kw: None)


def test_every_kind_lists_entries():
    assert {"dense", "pruning_only", "coreset_only", "swast_trim", "swast_cut"} <= set(registry.names("method"))
    assert {"digits", "synthetic", "cifar10", "cifar100", "folder"} <= set(registry.names("dataset"))
    assert {"resnet18", "resnet101", "resnet18_imagenet"} <= set(registry.names("model"))
    with pytest.raises(ValueError, match="unknown registry kind"):
        registry.names("optimizer")
