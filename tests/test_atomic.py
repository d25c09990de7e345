"""Atomic outputs: a write that is interrupted (KeyboardInterrupt, an error) or
killed (SIGKILL) leaves the previous file intact, for every kind of output:
checkpoints, exports, reports, plots, event files."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from lava_msf import atomic
from lava_msf.events import write_events
from lava_msf.events import io as event_io
from lava_msf.netfile import read_net, write_net

from conftest import REPO
from small_nets import small_net

PREVIOUS = b"the previous file\n"


def _events(n=500):
    from lava_msf.events import make_events

    rng = np.random.default_rng(0)
    return make_events(rng.integers(0, 30, n), rng.integers(0, 20, n), np.sort(rng.integers(0, 10 ** 6, n)),
                       rng.integers(0, 2, n))


def _checkpoint(path):
    from lava_msf import create_model
    from lava_msf.train import save_checkpoint

    save_checkpoint(path, create_model("msf_micro"), epoch=1, metrics={})


def _export(path):
    write_net(small_net(), path)


def _plots(path):
    from lava_msf.analysis.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    _save(fig, path)
    plt.close(fig)


def _interrupt_torch_save(monkeypatch):
    real = torch.save

    def partial(obj, f, *a, **k):
        real({"half": torch.zeros(10)}, f)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", partial)


def _interrupt_h5(monkeypatch):
    import h5py

    real = h5py.Group.create_dataset
    calls = []

    def partial(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(h5py.Group, "create_dataset", partial)


def _interrupt_savefig(monkeypatch):
    from matplotlib.figure import Figure

    def partial(self, fname, *a, **k):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", partial)


def _interrupt_write_text(monkeypatch):
    from pathlib import Path

    def partial(self, text, *a, **k):
        with open(self, "w") as f:
            f.write(text[: len(text) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", partial)


def _interrupt_npz(monkeypatch):
    def partial(tmp, events, sensor_size):
        with open(tmp, "wb") as f:
            f.write(b"PK\x03\x04 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(event_io, "_write_npz", partial)


def _interrupt_event_writer(monkeypatch):
    real = event_io.H5EventWriter.write

    def partial(self, events):
        real(self, events[: len(events) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(event_io.H5EventWriter, "write", partial)


WRITERS = {
    "checkpoint.pt": (_checkpoint, _interrupt_torch_save),
    "model.net": (_export, _interrupt_h5),
    "energy.png": (_plots, _interrupt_savefig),
    "report.json": (lambda p: atomic.write_text(p, json.dumps({"energy_uj": 13.5})), _interrupt_write_text),
    "events.npz": (lambda p: write_events(p, _events(), (30, 20, 2)), _interrupt_npz),
    "events.h5": (lambda p: write_events(p, _events(), (30, 20, 2)), _interrupt_event_writer),
}


@pytest.mark.parametrize("name", WRITERS)
def test_interrupted_write_keeps_the_previous_file(name, tmp_path, monkeypatch):
    write, interrupt = WRITERS[name]
    path = tmp_path / name
    write(path)  # the writer works
    assert path.stat().st_size > 0
    path.write_bytes(PREVIOUS)
    interrupt(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        write(path)
    assert path.read_bytes() == PREVIOUS
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_interrupted_report_keeps_the_previous_file(tmp_path, monkeypatch, capsys):
    from lava_msf.cli import main

    out = tmp_path / "report.json"
    out.write_bytes(PREVIOUS)
    _interrupt_write_text(monkeypatch)
    assert main(["report", str(REPO / "netx_models" / "msf_tiny-digits.net"), "--samples", "2",
                 "--no-progress", "--out", str(out)]) == 130
    assert out.read_bytes() == PREVIOUS
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


KILLED_WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import numpy as np
from lava_msf.netfile import write_net
from small_nets import small_net
path = Path({path!r})
versions = [small_net(), small_net()]
versions[1].layers[1].weight = versions[1].layers[1].weight * 0 + 2
print("writing", flush=True)
i = 0
while True:  # rewrite the file, alternating two versions, until killed
    write_net(versions[i % 2], path)
    i += 1
"""


@pytest.mark.slow
def test_killed_writer_leaves_a_whole_file(tmp_path):
    """SIGKILL a process that rewrites a .net file in a loop, at 8 moments: the
    file always reads back whole, as one of the two versions written."""
    path = tmp_path / "model.net"
    _export(path)
    for k in range(8):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER.format(tests=str(REPO / "tests"),
                                                                          path=str(path))],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(0.05 + 0.07 * k)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        net = read_net(path)
        assert int(net.layers[1].weight.reshape(-1)[0]) in (2, int(_first_weight()))


def _first_weight():
    return small_net().layers[1].weight.reshape(-1)[0]


def test_atomic_path_survives_sigkill(tmp_path):
    """The mechanism itself: killed inside atomic_path, the target is untouched."""
    path = tmp_path / "out.json"
    path.write_bytes(PREVIOUS)
    code = ("import sys, time\nfrom lava_msf.atomic import atomic_path\n"
            f"with atomic_path({str(path)!r}) as tmp:\n"
            "    tmp.write_bytes(b'half')\n    print('inside', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "inside"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert path.read_bytes() == PREVIOUS
    # a killed process cannot clean up: its temporary file stays behind, hidden
    assert [p.name.startswith(".out.json.") for p in tmp_path.iterdir() if p != path] == [True]
