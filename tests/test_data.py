import sys

import pytest
import torch

from harness.core.errors import ConfigError
from harness.core.rng import generator
from harness.core.sections import DataSettings
from harness.data import loading as D
from harness.data.augment import crop_flip

CPU = torch.device("cpu")


def load(name="digits", seed=0, root="data", **settings):
    return D.load(name, DataSettings(**settings), seed, CPU, root=root, download=False, cache_dir=None)


def test_digits_splits_are_stratified_disjoint_and_fixed():
    a = load(val_fraction=0.1)
    assert a.train_x.dtype == torch.uint8 and a.train_x.shape[1:] == (1, 8, 8)
    assert (a.num_train, len(a.val_y), len(a.test_y)) == (1294, 144, 359)
    assert a.num_classes == 10 and a.augment == D.Augment(pad=1, flip=False)
    # the split does not depend on the run's seed, and no image is in two splits
    b = load(seed=5, val_fraction=0.1)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.val_x, b.val_x)
    flat = lambda x: {bytes(img.flatten().tolist()) for img in x}  # noqa: E731
    assert not flat(a.val_x) & flat(a.test_x)
    counts = torch.bincount(a.val_y, minlength=10)
    assert int(counts.min()) >= 14 and int(counts.max()) <= 15


def test_digits_read_from_the_cache_equal_digits_read_from_scikit_learn(tmp_path, monkeypatch):
    from harness.data.sources import digits

    first = digits(tmp_path)  # reads scikit-learn's copy and fills the cache
    assert len(list(tmp_path.glob("digits-*.pt"))) == 1
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # importing it would now fail
    cached = digits(tmp_path)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(first, name), getattr(cached, name))


def test_stratified_split_takes_exact_counts_with_class_proportions():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    chosen, rest = D.stratified_split(labels, 10, generator(1))
    assert len(chosen) == 10 and len(rest) == 90
    assert torch.bincount(labels[chosen]).tolist() == [5, 3, 2]
    assert set(chosen.tolist()).isdisjoint(rest.tolist())


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.37])
def test_label_noise_changes_exactly_round_rN_labels_each_to_another_class(rate):
    clean = load(val_fraction=0.1)
    noisy = load(val_fraction=0.1, label_noise=rate)
    n = clean.num_train
    changed = noisy.train_y != clean.train_y
    assert int(changed.sum()) == D.round_half_up(rate * n)
    assert torch.equal(changed, noisy.noisy_mask)
    assert torch.equal(noisy.test_y, clean.test_y) and torch.equal(noisy.val_y, clean.val_y)
    # the same seed gives the same noise, another seed other noise
    assert torch.equal(load(val_fraction=0.1, label_noise=rate).noisy_mask, noisy.noisy_mask)
    assert not torch.equal(load(seed=1, val_fraction=0.1, label_noise=rate).noisy_mask, noisy.noisy_mask)


def test_noise_targets_are_uniform_over_the_other_classes():
    labels = torch.zeros(20000, dtype=torch.long)
    noisy, mask = D.corrupt_labels(labels, 0.5, 5, generator(0))
    counts = torch.bincount(noisy[mask], minlength=5)
    assert counts[0] == 0
    assert (counts[1:].float() / 10000 - 0.25).abs().max() < 0.02


def test_limits_keep_a_stratified_subset():
    full = load(val_fraction=0.1)
    d = load(val_fraction=0.1, train_limit=500, test_limit=100)
    assert d.num_train == 500 and len(d.test_y) == 100 and len(d.val_y) == 100
    share = torch.bincount(full.train_y).double() * 500 / full.num_train
    assert (torch.bincount(d.train_y) - share).abs().max() < 1


def _write_tree(root, size=6, per_class=3, classes=("cat", "dog")):
    from PIL import Image

    g = generator(0)
    for split in ("train", "test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                img = torch.randint(0, 256, (size, size, 3), generator=g, dtype=torch.uint8)
                Image.fromarray(img.numpy()).save(root / split / c / f"{i}.png")


def test_folder_dataset_reads_class_folders_and_caches_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SWAST_CACHE", str(tmp_path / "cache"))
    _write_tree(tmp_path / "tree")
    d = load("folder", root=str(tmp_path / "tree"), val_fraction=0.0)
    assert d.train_x.shape == (6, 3, 6, 6) and d.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(list((tmp_path / "cache").glob("images-*.pt"))) == 2
    again = load("folder", root=str(tmp_path / "tree"), val_fraction=0.0)
    assert torch.equal(again.train_x, d.train_x)


def test_missing_data_names_the_folder_and_how_to_provide_it(tmp_path):
    with pytest.raises(ConfigError, match=r"cifar10 not found under '.*empty' and could not be downloaded"):
        load("cifar10", root=str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="folder: no train or test folder under"):
        load("folder", root=str(tmp_path / "empty"))


def test_crop_flip_translates_and_mirrors_each_image():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.uint8).view(2, 3, 5, 5)
    same = crop_flip(x, 0, False, generator(0))
    assert torch.equal(same, x)
    out = crop_flip(x, 2, True, generator(3))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):
        windows = [padded[b, :, i:i + 5, j:j + 5] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) or torch.equal(out[b], w.flip(2)) for w in windows)
    assert torch.equal(out, crop_flip(x, 2, True, generator(3)))


@pytest.mark.slow
def test_real_cifar10_copy_loads_through_the_folder_source(cifar10_folder):
    import gin

    gin.clear_config()
    gin.parse_config("datasets.cifar10.source = 'folder'")
    d = load("cifar10", root=str(cifar10_folder), val_fraction=0.1)
    gin.clear_config()
    raw_total = d.num_train + len(d.val_y)
    assert raw_total == 50000 and len(d.test_y) == 10000
    assert d.train_x.shape[1:] == (3, 32, 32) and d.num_classes == 10
    assert torch.bincount(d.test_y).tolist() == [1000] * 10
    assert torch.allclose(d.mean, torch.tensor([0.4939, 0.4835, 0.4475]), atol=0.003)


def test_tinyimagenet_layout_with_annotated_validation_split(tmp_path):
    from PIL import Image

    root = tmp_path / "tiny-imagenet-200"
    g = generator(0)
    wnids = ["n01443537", "n01629819", "n01641577"]
    lines = []
    for c, wnid in enumerate(wnids):
        (root / "train" / wnid / "images").mkdir(parents=True)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        for i in range(4):
            img = torch.randint(0, 256, (8, 8, 3), generator=g, dtype=torch.uint8).numpy()
            Image.fromarray(img).save(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", format="JPEG")
        lines.append(f"val_{c}.JPEG\t{wnid}\t0\t0\t8\t8")
    (root / "val" / "images").mkdir(parents=True)
    for c in range(3):
        img = torch.full((8, 8, 3), 40 * c, dtype=torch.uint8).numpy()
        Image.fromarray(img).save(root / "val" / "images" / f"val_{c}.JPEG", format="JPEG")
    (root / "val" / "val_annotations.txt").write_text("\n".join(reversed(lines)) + "\n")
    d = load("tinyimagenet", root=str(root), val_fraction=0.0)
    assert d.train_x.shape == (12, 3, 8, 8) and d.train_y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert d.test_y.tolist() == [2, 1, 0] and d.num_classes == 3
    with pytest.raises(ConfigError, match="tinyimagenet: expected"):
        load("tinyimagenet", root=str(tmp_path / "elsewhere"))
