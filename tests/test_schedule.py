import pytest

from harness.core.sections import TrainSettings
from harness.training.schedule import batch_bounds, plan


def settings(**kw):
    return TrainSettings(**{"epochs": 300, "batch_size": 128, "selection_interval": 20, **kw})


def test_paper_schedule_warmup_and_selection_epochs():
    s = plan(settings(), 0.1, True, num_train=45000, budget=4500)
    assert s.warmup_epochs == 15  # ceil(300 * 0.1 / 2), not 16 from float error
    assert s.selection_epochs[:3] == (16, 36, 56) and s.selection_epochs[-1] == 296
    assert s.full_batches == 352 and s.coreset_batches == 36
    assert s.total_steps == 15 * 352 + 285 * 36


def test_algorithm_1_modulo_rule():
    s = plan(settings(selection_rule="modulo"), 0.1, True, num_train=45000, budget=4500)
    assert s.selection_epochs[:2] == (20, 40) and s.selection_epochs[-1] == 300
    assert s.batches(19) == 352 and s.batches(20) == 36  # full data until the first selection


@pytest.mark.parametrize("epochs, fraction, warmup", [(20, 0.1, 1), (300, 0.01, 2), (300, 0.05, 8), (90, 0.1, 5)])
def test_warmup_is_ceil_of_t_alpha_over_2(epochs, fraction, warmup):
    assert plan(settings(epochs=epochs), fraction, True, 1000, 100).warmup_epochs == warmup


def test_no_selection_rounds_means_full_data_throughout():
    s = plan(settings(epochs=10), 1.0, False, 1000, 1000)
    assert s.selection_epochs == () and s.total_steps == 10 * 8


def test_cosine_learning_rate_per_epoch():
    s = plan(settings(epochs=4, lr=0.1), 1.0, False, 10, 10)
    assert [round(s.lr(t), 6) for t in (1, 2, 3, 4)] == [0.1, 0.085355, 0.05, 0.014645]


def test_batches_are_nearly_equal_and_at_most_the_batch_size():
    for n, b in [(129, 32), (194, 32), (45000, 128), (4500, 128), (7, 32), (1, 32), (64, 32)]:
        bounds = batch_bounds(n, b)
        sizes = [e - s for s, e in zip(bounds[:-1], bounds[1:], strict=True)]
        assert bounds[0] == 0 and bounds[-1] == n and len(sizes) == -(-n // b)
        assert max(sizes) <= b and max(sizes) - min(sizes) <= 1
    assert batch_bounds(194, 32) == [0, 28, 55, 83, 111, 139, 166, 194]
