"""Networks: CIFAR-style ResNets (3x3 stem, no max-pool) with a width multiplier, and torchvision's
ResNets for ImageNet-sized inputs.

Every model exposes `features(x)` (the penultimate embedding the probe pass records) and `fc` (the
classifier that SWaST-trim prunes), with `forward(x) = fc(features(x))`.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn

from harness.core.ranges import Range
from harness.core.registry import register

Width = Annotated[float, Range(gt=0)]  # the channel multiplier; checked when the configuration is parsed


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes, stride)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.shortcut = _shortcut(in_planes, planes * 4, stride)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + self.shortcut(x))


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False), nn.BatchNorm2d(out_planes))


class CifarResNet(nn.Module):
    """ResNet for small images: 3x3 stride-1 stem, no max-pool, four stages at strides 1, 2, 2, 2."""

    def __init__(self, block, layers: list[int], num_classes: int, in_channels: int, width: float):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        base = max(1, round(64 * width))
        self.conv1 = nn.Conv2d(in_channels, base, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        stages, in_planes = [], base
        for i, blocks in enumerate(layers):
            planes = base * 2**i
            for j in range(blocks):
                stages.append(block(in_planes, planes, stride=2 if (i > 0 and j == 0) else 1))
                in_planes = planes * block.expansion
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register("model", "resnet18")
def resnet18(num_classes: int, in_channels: int, width: Width = 1.0) -> nn.Module:
    """CIFAR ResNet-18 (11.2M parameters at width 1 with 10 classes; width 0.125 trains `digits` in seconds)."""
    return CifarResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, width)


@register("model", "resnet101")
def resnet101(num_classes: int, in_channels: int, width: Width = 1.0) -> nn.Module:
    """CIFAR ResNet-101 (bottleneck blocks 3-4-23-3)."""
    return CifarResNet(Bottleneck, [3, 4, 23, 3], num_classes, in_channels, width)


@register("model", "resnet10")
def resnet10(num_classes: int, in_channels: int, width: Width = 0.125) -> nn.Module:
    """A small CIFAR ResNet (one basic block per stage) for quick tests."""
    return CifarResNet(BasicBlock, [1, 1, 1, 1], num_classes, in_channels, width)


class TorchvisionResNet(nn.Module):
    """torchvision's ImageNet ResNet (7x7 stem, max-pool) split into `features` and `fc`."""

    def __init__(self, arch: str, num_classes: int, in_channels: int):
        super().__init__()
        import torchvision

        body = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        if in_channels != 3:
            body.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.fc = body.fc
        body.fc = nn.Identity()
        self.body = body

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


@register("model", "resnet18_imagenet")
def resnet18_imagenet(num_classes: int, in_channels: int) -> nn.Module:
    return TorchvisionResNet("resnet18", num_classes, in_channels)


@register("model", "resnet50_imagenet")
def resnet50_imagenet(num_classes: int, in_channels: int) -> nn.Module:
    return TorchvisionResNet("resnet50", num_classes, in_channels)


@register("model", "resnet101_imagenet")
def resnet101_imagenet(num_classes: int, in_channels: int) -> nn.Module:
    return TorchvisionResNet("resnet101", num_classes, in_channels)
