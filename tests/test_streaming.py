"""ImageNet-style data streamed from disk: the class-folder layout, batches decoded by loader workers, and
runs that train from files exactly as reproducibly as from memory."""

import pytest
import torch

from harness.config import parse
from harness.core.errors import ConfigError
from harness.core.sections import DataSettings
from harness.data import loading as D
from harness.data.streaming import ImageFiles, image_batches
from harness.execution.run_folder import execute

CPU = torch.device("cpu")
WNIDS = ["n01440764", "n01443537", "n01484850"]


@pytest.fixture(scope="module")
def imagenet_folder(tmp_path_factory):
    """train/<wnid>/*.JPEG and val/<wnid>/*.JPEG with images of varied sizes, each class its own hue."""
    from PIL import Image

    root = tmp_path_factory.mktemp("imagenet")
    g = torch.Generator().manual_seed(0)
    for split, count in (("train", 12), ("val", 4)):
        for c, wnid in enumerate(WNIDS):
            (root / split / wnid).mkdir(parents=True)
            for i in range(count):
                h, w = (int(v) for v in torch.randint(36, 60, (2,), generator=g))
                img = torch.randint(0, 90, (h, w, 3), generator=g, dtype=torch.uint8)
                img[..., c] += 150
                Image.fromarray(img.numpy()).save(root / split / wnid / f"{wnid}_{i}.JPEG", format="JPEG")
    return root


def load(root, **settings):
    return D.load("imagenet", DataSettings(**settings), 0, CPU, root=str(root), download=False, cache_dir=None)


def test_the_class_folder_layout_streams_with_published_statistics(imagenet_folder):
    d = load(imagenet_folder, val_fraction=0.25)
    assert isinstance(d.train_x, ImageFiles) and isinstance(d.val_x, ImageFiles)
    assert (d.num_train, len(d.val_y), len(d.test_y), d.num_classes) == (27, 9, 12, 3)
    assert d.train_x.shape == (27, 3, 224, 224)
    assert not set(d.train_x.paths) & set(d.val_x.paths)
    assert torch.bincount(d.test_y).tolist() == [4, 4, 4]
    assert torch.allclose(d.mean, torch.tensor([0.485, 0.456, 0.406]))
    first = [p.split("/")[-2] for p in d.test_x.paths[:4]]
    assert first == [WNIDS[0]] * 4 and d.test_y[:4].tolist() == [0] * 4


def test_batches_are_uint8_at_the_size_and_augmentation_is_seeded_per_image(imagenet_folder):
    files = load(imagenet_folder, val_fraction=0.0).train_x
    files.size, files.workers = 32, 0
    evaluation = list(image_batches(files, 10, CPU))
    assert [b.shape for b in evaluation] == [(10, 3, 32, 32)] * 3 + [(6, 3, 32, 32)]
    assert evaluation[0].dtype == torch.uint8
    idx = [torch.tensor([5, 0, 7]), torch.tensor([30, 2])]

    def train(workers, seed):
        files.workers = workers
        return torch.cat(list(files.read(idx, CPU, train=True, generator=torch.Generator().manual_seed(seed))))

    a = train(0, 1)
    assert torch.equal(a, train(2, 1))  # the same crops whatever the number of workers
    assert not torch.equal(a, train(0, 2))
    # the images are those of the index: each class keeps its dominant channel
    assert [int(img.float().mean(dim=(1, 2)).argmax()) for img in a] == [0, 0, 0, 2, 0]


def test_a_missing_layout_is_one_clear_line(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(ConfigError, match=r"imagenet: expected .*/train/<wnid>/<images> and .*/val/<wnid>"):
        load(tmp_path)


def test_an_imagenet_experiment_trains_from_files_and_does_not_depend_on_the_worker_count(imagenet_folder, tmp_path):
    small = (f"data_root = '{imagenet_folder}'", "datasets.imagenet.size = 32", "experiment.model = 'resnet10'",
             "epochs = 4", "train.batch_size = 8", "train.selection_interval = 1", "coreset_fraction = 0.5",
             "runtime.eval_batch_size = 16")
    configs = [parse(["gin/imagenet/swast_cut.gin"], (*small, f"runtime.loader_workers = {w}")) for w in (0, 2)]
    assert configs[0].key == configs[1].key  # the worker count is not part of what a run computes
    results = [execute(cfg, tmp_path / str(i)) for i, cfg in enumerate(configs)]
    assert [r["status"] for r in results] == ["ok", "ok"]
    history = [[(h["train_loss"], h["test_accuracy"]) for h in r["history"]] for r in results]
    assert history[0] == history[1] and len(history[0]) == 4
    assert results[0]["selection_epochs"]  # EL2N chose coresets from probe passes over the files
