"""Image datasets read from a local folder, never downloaded: an ImageFolder
(torchvision's layout, e.g. ImageNet) and CIFAR-10 / CIFAR-100 in their binary
version (raw bytes; the pickled "python version" is refused: nothing is ever
unpickled). Images are decoded with PIL."""

from pathlib import Path

import numpy as np

from .common import DatasetNotFound, spread

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
FOLDER_SPLITS = {"train": ("train",), "test": ("val", "test")}
IMAGEFOLDER_LAYOUT = "DIR/train/<class>/*.jpg|png and DIR/val/<class>/*.jpg|png (torchvision's ImageFolder layout)"
CIFAR_PIXELS = 3 * 32 * 32


class LazyImages:
    """(N, C, S, S) float32 images in [0, 1], decoded when indexed, so that a
    split need not fit in memory (ImageNet). Indexing takes what numpy arrays
    take along the first axis (an int, a slice, an index array) and returns a
    numpy array."""

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, count: int, channels: int, size: int, load):
        self.shape = (count, channels, size, size)
        self._load = load  # i -> uint8 (C, S, S)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._load(range(self.shape[0])[key]).astype(np.float32) / 255.0
        index = np.arange(self.shape[0])[key]
        out = np.empty((len(index),) + self.shape[1:], dtype=np.float32)
        for k, i in enumerate(index):
            out[k] = self._load(int(i))
        return out / 255.0

    def __array__(self, dtype=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def _pil_resize(image, size: int) -> np.ndarray:
    """PIL image -> uint8 (3, size, size): the shorter side resized to `size`
    (bilinear), then a centred crop (the usual evaluation transform)."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        image = image.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size))).transpose(2, 0, 1)


def load_imagefolder(split, img_size, timesteps, limit=None, data_dir=None):
    from PIL import Image, UnidentifiedImageError

    root = _need_dir(data_dir, "imagefolder", IMAGEFOLDER_LAYOUT)
    folder = next((root / name for name in FOLDER_SPLITS[split] if (root / name).is_dir()), None)
    if folder is None:
        raise DatasetNotFound(f"imagefolder: no {' or '.join(FOLDER_SPLITS[split])} folder under {root}: "
                              f"expected {IMAGEFOLDER_LAYOUT}")
    # Classes come from the train folder, so both splits number them alike.
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir()) if (root / "train").is_dir() else []
    if not classes:
        raise DatasetNotFound(f"imagefolder: no class folders in {root / 'train'}: expected {IMAGEFOLDER_LAYOUT}")
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (folder / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) \
            if (folder / name).is_dir() else []
        files += found
        labels += [label] * len(found)
    extra = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in classes)
    if extra:
        raise DatasetNotFound(f"imagefolder: {folder} has class folders not in {root / 'train'}: {extra[:5]}")
    if not files:
        raise DatasetNotFound(f"imagefolder: no images ({', '.join(IMAGE_SUFFIXES[:2])}, ...) in {folder}/<class>/: "
                              f"expected {IMAGEFOLDER_LAYOUT}")
    index = spread(len(files), limit)
    files, y = [files[i] for i in index], np.asarray(labels, dtype=np.int64)[index]

    def load(i):
        try:
            with Image.open(files[i]) as image:
                return _pil_resize(image, img_size)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise DatasetNotFound(f"imagefolder: cannot decode image {files[i]}: {e}") from None

    return LazyImages(len(files), 3, img_size, load), y, len(classes), {"classes": classes}


CIFAR = {
    # name: (folder of the extracted archive, train files, test files, label bytes, label names file)
    "cifar10": ("cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"], 1,
                "batches.meta.txt"),
    "cifar100": ("cifar-100-binary", ["train.bin"], ["test.bin"], 2, "fine_label_names.txt"),
}


def load_cifar(name, split, img_size, limit=None, data_dir=None):
    """CIFAR binary version: records of label byte(s) (CIFAR-100: coarse, then
    fine; the fine label is used) and 3072 pixel bytes (R, G, B planes of 32x32).
    `data_dir` is the extracted folder or the folder above it."""
    folder_name, train_files, test_files, label_bytes, names_file = CIFAR[name]
    names = train_files if split == "train" else test_files
    layout = f"DIR/{folder_name}/{{{','.join(train_files + test_files)}}} (the binary version, not the python one)"
    root = _need_dir(data_dir, name, layout)
    folder = root if (root / names[0]).is_file() else root / folder_name
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DatasetNotFound(f"{name}: {folder / missing[0]} not found: expected {layout}")
    record = label_bytes + CIFAR_PIXELS
    parts = []
    for n in names:
        raw = np.fromfile(folder / n, dtype=np.uint8)
        if raw.size == 0 or raw.size % record:
            raise DatasetNotFound(f"{name}: {folder / n} is {raw.size} bytes, not a whole number of "
                                  f"{record}-byte records (is it the binary version?)")
        parts.append(raw.reshape(-1, record))
    records = np.concatenate(parts)
    classes = 10 if name == "cifar10" else 100
    y = records[:, label_bytes - 1].astype(np.int64)
    if y.max() >= classes:
        raise DatasetNotFound(f"{name}: label {int(y.max())} in {folder} is not below {classes} "
                              f"(a CIFAR-{'100' if classes == 10 else '10'} file?)")
    index = spread(len(y), limit)
    pixels, y = records[index, label_bytes:].reshape(-1, 3, 32, 32), y[index]
    label_names = folder / names_file
    classes_list = [ln.strip() for ln in label_names.read_text(errors="replace").splitlines() if ln.strip()] \
        if label_names.is_file() else []
    info = {"classes": classes_list if len(classes_list) == classes else [str(c) for c in range(classes)]}
    if img_size == 32:
        load = pixels.__getitem__
    else:
        from PIL import Image

        def load(i):
            return _pil_resize(Image.fromarray(pixels[i].transpose(1, 2, 0)), img_size)
    return LazyImages(len(y), 3, img_size, load), y, classes, info


def _need_dir(data_dir, name: str, layout: str) -> Path:
    if data_dir is None:
        raise DatasetNotFound(f"dataset {name} is read from disk: give --data-dir (expected {layout})")
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetNotFound(f"{name}: {root} is not a folder: expected {layout}")
    return root

