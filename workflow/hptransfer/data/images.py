"""Image classification data for the sample-wise study (paper §5.6): CIFAR-10 or scikit-learn digits.

Both sources give the same arrays, so the rest of the engine has one code path:

* ``cifar10``: the standard python-pickle batches (``data_batch_1`` … ``data_batch_5``,
  ``test_batch``) in a local directory (``dataset.path``), read without any network. The 10,000 test
  images are the fixed validation set (the first ``val_size`` of them if that is set).
* ``digits``: :func:`sklearn.datasets.load_digits` (1,797 8×8 grey images that ship inside
  scikit-learn), split once into training and validation images by a fixed permutation
  (``split_seed``), ``val_size`` validation images.

Pixels are scaled to [0, 1] and normalised per channel with the mean and standard deviation of the
training images. Everything here is numpy only (no torch), so analyses can load validation images
in the light analysis environment; the training augmentation lives in :mod:`hptransfer.data.augment`.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCES = ("digits", "cifar10")
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGITS_VAL_SIZE = 500


@dataclass
class ImageArrays:
    """Normalised images (N, C, H, W) float32 and integer labels, training and validation."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    mean: np.ndarray  # per-channel mean of the [0, 1] training pixels (C,)
    std: np.ndarray  # per-channel standard deviation (C,)
    classes: tuple[str, ...]
    source: str

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def d_in(self) -> int:
        return int(np.prod(self.train_x.shape[1:]))

    def raw_val(self, index) -> np.ndarray:
        """Validation images back in [0, 1] pixel space, (len(index), H, W, C), for plotting."""
        x = self.val_x[np.asarray(index)] * self.std[:, None, None] + self.mean[:, None, None]
        return np.clip(np.moveaxis(x, 1, -1), 0.0, 1.0)


def data_files(dataset: dict) -> list[str]:
    """Files a dataset block reads (for workflow inputs): none for digits (they ship in a package)."""
    if dataset["source"] == "cifar10":
        root = Path(dataset["path"])
        return [str(root / name) for name in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)]
    return []


def missing_files(dataset: dict) -> list[str]:
    return [f for f in data_files(dataset) if not Path(f).is_file()]


def load_images(dataset: dict) -> ImageArrays:
    """The arrays of a (run config's) ``dataset`` block."""
    source = dataset["source"]
    if source == "digits":
        train_x, train_y, val_x, val_y = _digits(
            int(dataset.get("val_size") or DIGITS_VAL_SIZE), int(dataset.get("split_seed", 0))
        )
        classes = tuple(str(i) for i in range(10))
    elif source == "cifar10":
        train_x, train_y, val_x, val_y = _cifar10(dataset["path"], dataset.get("val_size"))
        classes = CIFAR_CLASSES
    else:
        raise ValueError(f"dataset.source must be one of {SOURCES}, got {source!r}")
    mean = train_x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = train_x.std(axis=(0, 2, 3), dtype=np.float64)
    std = np.where(std > 0, std, 1.0)

    def normalise(x):
        return ((x - mean[:, None, None]) / std[:, None, None]).astype(np.float32)

    return ImageArrays(
        normalise(train_x),
        train_y.astype(np.int64),
        normalise(val_x),
        val_y.astype(np.int64),
        mean.astype(np.float32),
        std.astype(np.float32),
        classes,
        source,
    )


# ------------------------------------------------------------------------------------------ digits


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images (1797, 8, 8) with values 0..16 and labels (1797,).

    Reads the file that :func:`sklearn.datasets.load_digits` reads (``sklearn/datasets/data/
    digits.csv.gz``) without importing scikit-learn (seconds per training job); falls back to
    ``load_digits`` where that file is not found. The two give identical arrays (tested).
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as fh:
                data = np.loadtxt(fh, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target.astype(np.int64)


def _digits(val_size: int, split_seed: int):
    images, y = digits_arrays()
    x = (images.astype(np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    if not 0 < val_size < len(y):
        raise ValueError(f"dataset.val_size must lie in (0, {len(y)}) for digits, got {val_size}")
    perm = np.random.default_rng(split_seed).permutation(len(y))
    val, train = np.sort(perm[:val_size]), np.sort(perm[val_size:])
    return x[train], y[train], x[val], y[val]


# ----------------------------------------------------------------------------------------- CIFAR-10


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR batches that builds numpy arrays and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"CIFAR batch refers to {module}.{name}: not a plain CIFAR-10 batch")
        if module == "numpy.core.multiarray":  # Python-2 era pickles; numpy 2 moved the module
            try:
                import numpy._core.multiarray as mod

                return getattr(mod, name)
            except ImportError:
                pass
        return super().find_class(module, name)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One python-pickle batch → (N, 3, 32, 32) float32 in [0, 1] and labels (N,)."""
    with open(path, "rb") as fh:
        batch = _ArrayUnpickler(fh, encoding="bytes").load()
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path}: expected data (N, 3072) and N labels, got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels


def _cifar10(path: str | Path, val_size: int | None):
    missing = missing_files({"source": "cifar10", "path": str(path)})
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 batches not found: {missing} (dataset.path should be the "
            "extracted cifar-10-batches-py directory)"
        )
    parts = [read_cifar_batch(Path(path) / name) for name in CIFAR_TRAIN_FILES]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    val_x, val_y = read_cifar_batch(Path(path) / CIFAR_TEST_FILE)
    if val_size:
        val_x, val_y = val_x[:val_size], val_y[:val_size]
    return train_x, train_y, val_x, val_y
