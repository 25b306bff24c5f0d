import torch
import torch.nn.functional as F

from harness.core import registry
from harness.core.sections import SparsitySettings
from harness.models import resnet
from harness.training.sparsity import budget_groups, layer_targets


def test_magnitude_pruning_reaches_exact_targets_and_pruned_weights_never_move():
    torch.manual_seed(0)
    model = resnet.resnet10(num_classes=4, in_channels=3, width=0.25)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    targets = layer_targets(model, 0.7, "backbone", SparsitySettings())
    pruner = registry.build("pruner", "magnitude", begin=0.1, end=0.6, delta_t=3)
    total = 40
    pruner.attach(model, opt, targets, budget_groups(targets, model, "backbone"), [total], seed=0)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 4, (16,))
    previous = {n: m.clone() for n, m in pruner.masks.items()}
    for step in range(total):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if not pruner.before_step(step):
            opt.step()
        pruner.after_step(step)
        for name, p in pruner.params.items():
            mask = pruner.masks[name]
            assert not (previous[name] < mask).any(), "a pruned weight came back"
            assert (p[~mask] == 0).all()
            assert (opt.state[p]["momentum_buffer"][~mask] == 0).all()
        previous = {n: m.clone() for n, m in pruner.masks.items()}
    for name, p in pruner.params.items():
        expected = int(p.numel() * targets[name] + 0.5)
        assert int((~pruner.masks[name]).sum()) == expected
        assert int((p == 0).sum()) >= expected
