"""Datasets as tensors or files on disk: loading and caching, splits, label noise, augmentation, and
streaming batches. Importing it registers the datasets (`sources`)."""

from harness.data import sources  # noqa: F401  (registers the datasets)
