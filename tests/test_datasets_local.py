"""Datasets read from local folders in their published layouts (image folders,
CIFAR binary, CIFAR10-DVS, N-Caltech101): small folders written here, decoded
exactly, typed one-line errors for wrong layouts, and one training epoch each
through `lava-msf train --dataset NAME --data-dir DIR`."""

import json

import numpy as np
import pytest
from PIL import Image

from lava_msf.cli import main
from lava_msf.data import load_dataset
from lava_msf.data.common import DatasetNotFound
from lava_msf.data.events import TRAIN_FRACTION
from lava_msf.events import make_events
from lava_msf.events.io import write_nmnist_bin


def write_imagefolder(root, classes=("cat", "dog"), per_class=3):
    """Uniform-colour PNGs (lossless: every pixel decodes to the colour) of
    varying sizes, and one JPEG per class."""
    colours = {}
    for split in ("train", "val"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for k in range(per_class):
                colour = (40 * c + 10 * k, 200 - 30 * k, 17 + c)
                colours[(split, name, k)] = colour
                Image.new("RGB", (20 + 7 * k, 16 + 3 * c), colour).save(folder / f"{k:03d}.png")
            Image.new("RGB", (24, 24), (90, 90, 90)).save(folder / "zz.jpg", quality=95)
    return colours


def test_imagefolder_decodes_resizes_and_numbers_classes(tmp_path):
    colours = write_imagefolder(tmp_path)
    data = load_dataset("imagefolder", "test", 16, data_dir=tmp_path)  # "test" reads val/
    assert data.x.shape == (8, 3, 16, 16) and data.num_classes == 2 and data.info["classes"] == ["cat", "dog"]
    assert list(data.y) == [0, 0, 0, 0, 1, 1, 1, 1]
    x = data.x[np.arange(len(data))]
    assert x.dtype == np.float32
    for i, k in enumerate([0, 1, 2]):  # cat's PNGs in file-name order
        np.testing.assert_array_equal(x[i], np.broadcast_to(
            np.asarray(colours[("val", "cat", k)], np.float32)[:, None, None] / 255.0, (3, 16, 16)))
    assert abs(float(x[3].mean()) - 90 / 255) < 0.02  # the JPEG, within its compression error
    np.testing.assert_array_equal(np.asarray(data.x), x)
    np.testing.assert_array_equal(data.x[2:4], x[2:4])
    assert load_dataset("imagefolder", "train", 16, limit=4, data_dir=tmp_path).y.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("case, message", [
    ("no-dir", "is not a folder: expected DIR/train/<class>"),
    ("no-val", "no val or test folder under"),
    ("extra-class", "class folders not in"),
    ("empty", "no images"),
    ("corrupt", "cannot decode image"),
])
def test_imagefolder_layout_errors(tmp_path, case, message):
    root = tmp_path / "imgs"
    if case != "no-dir":
        write_imagefolder(root)
    if case == "no-val":
        for f in (root / "val").rglob("*.*"):
            f.unlink()
        for d in sorted((root / "val").rglob("*"), reverse=True):
            d.rmdir()
        (root / "val").rmdir()
    elif case == "extra-class":
        (root / "val" / "bird").mkdir()
    elif case == "empty":
        for f in (root / "val").rglob("*.*"):
            f.unlink()
    elif case == "corrupt":
        (root / "val" / "cat" / "000.png").write_bytes(b"not a png")
    with pytest.raises(DatasetNotFound, match=message):
        load_dataset("imagefolder", "test", 16, data_dir=root).x[0]  # images decode when indexed


def cifar_records(n, label_bytes, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10 if label_bytes == 1 else 100, (n, label_bytes), dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return np.concatenate([labels, pixels], 1), labels[:, -1], pixels.reshape(n, 3, 32, 32)


def test_cifar10_binary_version(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    expected = []
    for i in range(1, 6):
        rec, y, px = cifar_records(3, 1, i)
        rec.tofile(folder / f"data_batch_{i}.bin")
        expected.append((y, px))
    rec, y_test, px_test = cifar_records(4, 1, 9)
    rec.tofile(folder / "test_batch.bin")
    (folder / "batches.meta.txt").write_text("\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                        "frog", "horse", "ship", "truck"]) + "\n\n")
    train = load_dataset("cifar10", "train", 32, data_dir=tmp_path)  # the folder above the extracted one
    assert train.x.shape == (15, 3, 32, 32) and train.num_classes == 10 and train.info["classes"][9] == "truck"
    np.testing.assert_array_equal(train.y, np.concatenate([y for y, _ in expected]))
    # R, G, B planes of 32 x 32, row-major, scaled to [0, 1] exactly
    np.testing.assert_array_equal(np.asarray(train.x) * 255.0, np.concatenate([p for _, p in expected]).astype(np.float32))
    test = load_dataset("cifar10", "test", 32, data_dir=folder)  # or the extracted folder itself
    np.testing.assert_array_equal(test.y, y_test)
    assert load_dataset("cifar10", "test", 48, data_dir=folder).x[0].shape == (3, 48, 48)

    (folder / "data_batch_3.bin").write_bytes(b"\0" * 3072)
    with pytest.raises(DatasetNotFound, match="data_batch_3.bin is 3072 bytes, not a whole number of 3073-byte"):
        load_dataset("cifar10", "train", 32, data_dir=folder)


def test_cifar100_uses_the_fine_label_and_refuses_the_python_version(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    for name, seed in (("train.bin", 1), ("test.bin", 2)):
        rec, fine, _ = cifar_records(5, 2, seed)
        rec[:, 0] = 7  # coarse label
        rec.tofile(folder / name)
    data = load_dataset("cifar100", "test", 32, data_dir=tmp_path)
    np.testing.assert_array_equal(data.y, fine)  # not the coarse label, 7
    assert data.num_classes == 100 and (fine != 7).any()
    pickled = tmp_path / "py" / "cifar-10-batches-py"
    pickled.mkdir(parents=True)
    (pickled / "data_batch_1").write_bytes(b"\x80\x04")
    with pytest.raises(DatasetNotFound, match=r"data_batch_1.bin not found: expected .*binary version, not the python"):
        load_dataset("cifar10", "train", 32, data_dir=tmp_path / "py")


def write_aedat4(path, events, size=(128, 128)):
    import dv_processing as dv

    store = dv.EventStore()
    for e in events:
        store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("test", size))
    writer.writeEvents(store)
    del writer


def corner_events(label, n=40, t_max=40000, w=128, h=128):
    """Events in one of four corners (by label), so that the frames say which."""
    rng = np.random.default_rng(label)
    cx, cy = (label % 2) * (w - 16), (label // 2 % 2) * (h - 16)
    return make_events(cx + rng.integers(0, 16, n), cy + rng.integers(0, 16, n),
                       np.sort(rng.integers(0, t_max, n)), rng.integers(0, 2, n))


DVS_PER_CLASS = 10


@pytest.fixture(scope="module")
def cifar10dvs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10dvs")
    for label, name in enumerate(("airplane", "automobile")):
        folder = root / "CIFAR10DVS" / name
        folder.mkdir(parents=True)
        for k in range(DVS_PER_CLASS):
            write_aedat4(folder / f"cifar10_{name}_{k}.aedat4", corner_events(label))
    return root


def test_cifar10dvs_split_per_class(cifar10dvs_dir, tmp_path):
    import shutil

    shutil.copytree(cifar10dvs_dir, tmp_path, dirs_exist_ok=True)
    per_class = DVS_PER_CLASS
    train = load_dataset("cifar10dvs", "train", 32, 4, data_dir=tmp_path)
    test = load_dataset("cifar10dvs", "test", 32, 4, data_dir=tmp_path)
    cut = int(np.ceil(per_class * TRAIN_FRACTION))
    assert list(train.y) == [0] * cut + [1] * cut and list(test.y) == [0] * (per_class - cut) + [1] * (per_class - cut)
    assert train.x.shape == (2 * cut, 2, 32, 32, 4) and train.num_classes == 10
    # 128 x 128 downsampled by 4: airplane's events are in the top-left 4 x 4, automobile's top-right
    assert train.x[0][:, :4, :4].any() and not train.x[0][:, :, 4:].any()
    assert train.x[-1][:, :4, -4:].any() and not train.x[-1][:, :, :-4].any()
    (tmp_path / "CIFAR10DVS" / "zebra").mkdir()
    write_aedat4(tmp_path / "CIFAR10DVS" / "zebra" / "z.aedat4", corner_events(0))
    with pytest.raises(DatasetNotFound, match="unexpected folder 'zebra'"):
        load_dataset("cifar10dvs", "train", 32, 4, data_dir=tmp_path)


def write_caltech_bin(path, events):
    """N-Caltech101's (= N-MNIST's) 5-byte records: x, y, polarity bit + 23-bit time."""
    t = events["t"].astype(np.int64)
    rec = np.stack([events["x"], events["y"], events["p"] << 7 | t >> 16, t >> 8 & 255, t & 255], 1)
    rec.astype(np.uint8).tofile(path)


def spread_events(seed, n=300, w=240, h=180):
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, w, n), rng.integers(0, h, n), np.sort(rng.integers(0, 50000, n)),
                       rng.integers(0, 2, n))


def test_ncaltech101_ignores_annotations_and_splits(tmp_path):
    classes = ("Faces_easy", "airplanes", "ant")
    for label, name in enumerate(classes):
        for sub, prefix in (("Caltech101", "image"), ("Caltech101_annotations", "annotation")):
            folder = tmp_path / "NCALTECH101" / sub / name
            folder.mkdir(parents=True)
            for k in range(3 if sub == "Caltech101" else 1):
                write_caltech_bin(folder / f"{prefix}_{k:04d}.bin", spread_events(label * 3 + k))
    train = load_dataset("ncaltech101", "train", 32, 2, data_dir=tmp_path)
    assert train.info["classes"] == list(classes) and list(train.y) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    with pytest.raises(DatasetNotFound, match="no recordings for split 'test'"):
        load_dataset("ncaltech101", "test", 32, 2, data_dir=tmp_path)  # ceil(0.9 * 3) = 3 train, 0 test
    # 180 // 32 = 5x downsampling, then a centred 32 x 32 crop of the 48 x 36 sensor
    assert train.x.shape == (9, 2, 32, 32, 2) and train.x.any(axis=(1, 2, 3, 4)).all()
    with pytest.raises(DatasetNotFound, match=r"NCALTECH101/Caltech101/<class>/\*.bin"):
        load_dataset("ncaltech101", "train", 32, 2, data_dir=tmp_path / "nothing")


@pytest.mark.parametrize("dataset", ["imagefolder", "cifar10", "cifar10dvs", "nmnist", "dvsgesture"])
def test_train_one_epoch_from_a_local_folder(tmp_path, dataset, capsys, cifar10dvs_dir):
    data_dir = cifar10dvs_dir if dataset == "cifar10dvs" else tmp_path / "data"
    if dataset == "imagefolder":
        write_imagefolder(data_dir, per_class=2)
    elif dataset == "cifar10":
        folder = data_dir / "cifar-10-batches-bin"
        folder.mkdir(parents=True)
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            cifar_records(2, 1, len(name))[0].tofile(folder / name)
    elif dataset == "nmnist":
        for split in ("Train", "Test"):
            for digit in range(3):
                (data_dir / "NMNIST" / split / str(digit)).mkdir(parents=True)
                write_nmnist_bin(data_dir / "NMNIST" / split / str(digit) / "00001.bin", spread_events(digit, w=34, h=34))
    elif dataset == "dvsgesture":
        for split in ("ibmGestureTrain", "ibmGestureTest"):
            (data_dir / "DVSGesture" / split / "user01_led").mkdir(parents=True)
            for label in range(3):
                ev = spread_events(label, w=128, h=128)  # tonic's .npy: x, y, p, t in ms
                np.save(data_dir / "DVSGesture" / split / "user01_led" / f"{label}.npy",
                        np.stack([ev["x"], ev["y"], ev["p"], ev["t"] // 1000], 1))
    out = tmp_path / "run"
    args = ["train", "--model", "msf_micro", "--dataset", dataset, "--data-dir", str(data_dir), "--img-size", "32",
            "--timesteps", "2", "--epochs", "1", "--batch-size", "4", "--limit-train", "8", "--limit-test", "4",
            "--out", str(out), "--no-progress", "--json"]
    assert main(args) == 0, capsys.readouterr().err
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and np.isfinite(log[0]["train_loss"]) and 0 <= log[0]["test_accuracy"] <= 1


def test_missing_folder_is_one_cli_line(tmp_path, capsys):
    code = main(["train", "--model", "msf_micro", "--dataset", "cifar100", "--data-dir", str(tmp_path / "none"),
                 "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err.startswith("lava-msf: error: cifar100:") and "cifar-100-binary/{train.bin,test.bin}" in err
