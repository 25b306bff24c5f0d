"""Planning a suite: each run is parsed once and its seeds derived from that parse, exactly as parsing each
seed would give (keys, specs, whole configurations)."""

import random

import pytest

from benchmarks.__main__ import suites
from grid.suite import Run, Suite
from harness import config


def real_parse(run: Run, seed: int) -> config.RunConfig:
    return config.parse(list(run.files), [*run.bindings, f"seed = {seed}"])


@pytest.mark.parametrize(("suite", "scale"), [("table1", "paper"), ("table1", "smoke"), ("table5", "mini"),
                                              ("fig4", "smoke"), ("preservation", "smoke")])
def test_derived_seeds_equal_real_parses(suite, scale):
    planned = suites()[suite]._parsed(scale, 5)
    for (run, seed), p in random.Random(0).sample(sorted(planned.items(), key=lambda kv: kv[1].key), 6):
        cfg = real_parse(run, seed)
        assert (p.key, p.spec, p.bindings) == (cfg.key, cfg.spec, (*run.bindings, f"seed = {seed}"))
        assert p.config == cfg  # text, settings, parameters: the whole configuration


class SeededData(Suite):
    """A run whose dataset is drawn from the seed too: the seed's value shows twice in its text."""

    name = "seeded"

    def runs(self, scale):
        return [Run(("gin/digits/coreset_only.gin",),
                    ("experiment.dataset = 'synthetic'", "datasets.synthetic.seed = %seed"))]


def test_a_seed_that_reaches_another_parameter_is_parsed_per_seed():
    run = SeededData().runs("smoke")[0]
    once = real_parse(run, 918273645)
    assert config.reseed(once, 1) is None  # the value shows on two lines: no derivation
    keys = SeededData().keys("smoke", 3)
    assert keys == {(run, seed): real_parse(run, seed).key for seed in range(3)}
    assert len(set(keys.values())) == 3
