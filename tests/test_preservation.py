import torch

from harness.training.preservation import StatePreservation


def test_kl_is_zero_at_the_recorded_state_and_positive_elsewhere():
    sp = StatePreservation("complete", 0.1)
    assert not sp.active
    logits = torch.randn(6, 4)
    sp.record(logits, torch.zeros(6, dtype=torch.long))
    pos = torch.tensor([4, 0, 2])
    assert sp.kl(logits[pos], pos, torch.ones(len(pos))).abs() < 1e-6
    assert sp.kl(torch.randn(3, 4), pos, torch.ones(3)) > 0


def test_selective_mode_keeps_only_samples_the_model_got_right():
    sp = StatePreservation("selective", 0.1)
    logits = torch.tensor([[5.0, 0.0], [5.0, 0.0]])
    sp.record(logits, torch.tensor([0, 1]))  # right, wrong
    pos = torch.tensor([0, 1])
    moved = torch.tensor([[0.0, 5.0], [0.0, 5.0]])
    complete = StatePreservation("complete", 0.1)
    complete.record(logits, torch.tensor([0, 1]))
    assert torch.allclose(sp.kl(moved, pos, torch.ones(len(pos))) * 2, complete.kl(moved, pos, torch.ones(len(pos))))


def test_its_gradient_pulls_towards_the_recorded_prediction():
    sp = StatePreservation("complete", 0.1)
    sp.record(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
    current = torch.tensor([[0.0, 2.0]], requires_grad=True)
    sp.kl(current, torch.tensor([0]), torch.ones(1)).backward()
    assert current.grad[0, 0] < 0 < current.grad[0, 1]
