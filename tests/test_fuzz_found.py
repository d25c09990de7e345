"""What the fuzzing of the NetX superset found (docs/reliability.md), one test each."""

import h5py
import numpy as np
import pytest

from lava_msf.errors import InputFileError
from lava_msf.graph import Layer, Network
from lava_msf.pipeline import read_inputs


def graded_net() -> Network:
    """An input whose frames enter as values (value shift 4) into a 1x1 conv."""
    w = np.arange(-4, 4).reshape(4, 2, 1, 1) * 2
    return Network([Layer("input", "input", (2, 3, 3), attrs={"value_shift": 4}),
                    Layer("conv", "conv", (4, 3, 3), (0,), weight=w)], timesteps=2, meta={}).validate()


@pytest.mark.parametrize("values", [np.array([2 ** 64 - 40], dtype=np.uint64), np.array([1e30]),
                                    np.array([2.0 ** 63])])
def test_inputs_beyond_int64_are_refused_not_wrapped(tmp_path, values):
    """uint64 2**64 - 40 was read as -40, a real 1e30 as -2**63 (the int64 cast wrapped)."""
    x = np.zeros((2, 3, 3, 2), dtype=values.dtype)
    x.flat[5] = values[0]
    path = tmp_path / "in.npy"
    np.save(path, x)
    with pytest.raises(InputFileError, match=r"in\.npy: values outside the 24-bit range of a graded message"):
        read_inputs(graded_net(), str(path))
    x.flat[5] = 7  # in range: read as written
    np.save(path, x)
    assert read_inputs(graded_net(), str(path))[0][0, 0, 0, 2, 1] == 7


def test_an_h5_dataset_without_a_shape_is_one_line(tmp_path):
    """HDF5's null dataspace (h5py.Empty) gave "cannot read: TypeError: 'NoneType' object is not iterable"."""
    path = tmp_path / "in.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", shape=None, dtype="<i4")
    with pytest.raises(InputFileError, match=r"in\.h5:x: the dataset is empty \(no shape\)$"):
        read_inputs(graded_net(), str(path))


def test_variable_length_sequences_are_refused_before_hdf5_reads_them(tmp_path):
    """A byte flip turned a layer's vlen-string `name` into a vlen sequence whose heap
    reference HDF5 followed into a segmentation fault (the `netx` target, case
    dvs/2727414). No .net key holds sequences: refused by type, before reading."""
    import subprocess
    import sys

    from fuzz_cases import dvs_net
    from lava_msf.errors import NetFileError
    from lava_msf.netfile import read_net, write_net

    path = tmp_path / "vlen.net"
    write_net(dvs_net(), path)
    with h5py.File(path, "r+") as f:
        g = f["layer/5"]
        del g.attrs["name"]
        sequence = np.empty(1, dtype=object)
        sequence[0] = np.arange(3)
        g.attrs.create("name", data=sequence, dtype=h5py.vlen_dtype(np.int64))
    with pytest.raises(NetFileError, match=r"layer 5: attribute 'name' holds variable-length sequences"):
        read_net(path)
    # the fuzzed file itself, read in a child process: a typed error, no signal
    crash = tmp_path / "crash.net"
    write_net(dvs_net(), crash)
    rng = np.random.default_rng(2727414)
    data = bytearray(crash.read_bytes())
    for _ in range(int(rng.integers(1, 12))):
        data[int(rng.integers(len(data)))] = int(rng.integers(256))
    crash.write_bytes(bytes(data))
    code = ("import sys\nfrom lava_msf.errors import NetFileError\nfrom lava_msf.netfile import read_net\n"
            "try:\n    read_net(sys.argv[1])\nexcept NetFileError:\n    pass\n")
    proc = subprocess.run([sys.executable, "-c", code, str(crash)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
