"""The CLI against a hostile file system and hostile options: a full disk, a
read-only destination, an output in the way of or equal to an input, and
numeric options that would be silently replaced. Each ends in one line
`lava-msf: error: ...`, exit 2, no temporary left, the input untouched; the
destination and the options are checked before any work.

The full and read-only file systems are real (a 256 KiB tmpfs mounted for the
test): tests needing one are skipped, saying so, where mounting is not allowed."""

import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from lava_msf import cli
from lava_msf.atomic import write_text
from lava_msf.cli.options import ERROR_CHARS
from lava_msf.errors import OutputError
from lava_msf.netfile import write_net

from small_nets import small_net

REPO = Path(__file__).resolve().parents[1]
DIGITS_NET = REPO / "netx_models" / "msf_tiny-digits.net"


def one_error_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith("lava-msf: error: ")]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def run_main(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    return one_error_line(err)


# --- real small file systems ---------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A mounted 256 KiB tmpfs."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({r.stderr.strip()}): no real small file system")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


@pytest.fixture
def full_dir(small_fs):
    """An empty folder on a file system with no free space left."""
    out = small_fs / "out"
    out.mkdir()
    with pytest.raises(OSError, match="No space left"), open(small_fs / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    return out


@pytest.fixture
def readonly_dir(small_fs):
    (small_fs / "kept").write_bytes(b"kept")
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    return small_fs


# --- full disk: the write fails after the work, cleanly ------------------------

def test_writers_on_a_full_disk(full_dir):
    for write in (lambda p: write_net(small_net(), p), lambda p: write_text(p, "x" * 10000)):
        path = full_dir / "out.file"
        with pytest.raises(OutputError, match=f"cannot write {path}: no space left on device"):
            write(path)
        assert list(full_dir.iterdir()) == []  # no temporary


def test_export_fills_the_disk(small_fs, tmp_path):
    """The disk fills up during the write (the file is twice the free space):
    HDF5 wrote the file itself and h5py crashed or raised a traceback."""
    from lava_msf import create_model
    from lava_msf.train import save_checkpoint

    ckpt = tmp_path / "micro.pt"
    save_checkpoint(ckpt, create_model("msf_micro", timesteps=1), epoch=1, metrics={})
    before = ckpt.read_bytes()
    out = small_fs / "micro.net"
    proc = subprocess.run([sys.executable, "-m", "lava_msf", "export", str(ckpt), "--out", str(out), "--samples",
                           "2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert one_error_line(proc.stderr) == f"lava-msf: error: cannot write {out}: no space left on device"
    assert list(small_fs.iterdir()) == [] and ckpt.read_bytes() == before


def test_run_and_report_on_a_full_disk(full_dir, capsys):
    out = full_dir / "r.json"
    line = run_main(capsys, "run", DIGITS_NET, "--backend", "reference", "--samples", "2", "--out", out)
    assert line == f"lava-msf: error: cannot write {out}: no space left on device"
    plots = full_dir / "plots"
    line = run_main(capsys, "report", DIGITS_NET, "--samples", "2", "--no-progress", "--plots", plots)
    assert line.startswith(f"lava-msf: error: cannot write {plots}/") and "no space left on device" in line
    assert [p for p in full_dir.rglob("*") if p.is_file()] == []


# --- destinations refused before any work --------------------------------------

# command -> (argv from input and output, cli module, handler, kind of output)
OUTPUTS = {
    "run": (lambda i, o: ["run", i, "--out", o], "run", "handle_run", "file"),
    "report --out": (lambda i, o: ["report", i, "--out", o], "report", "handle_report", "file"),
    "report --plots": (lambda i, o: ["report", i, "--plots", o], "report", "handle_report", "directory"),
    "export": (lambda i, o: ["export", i, "--out", o], "export", "handle_export", "file"),
    "import-sdt": (lambda i, o: ["import-sdt", i, "--variant", "15m", "--out", o], "export", "handle_import_sdt",
                   "file"),
    "export-nir": (lambda i, o: ["export-nir", i, "--out", o], "nir", "handle_export_nir", "file"),
    "import-nir": (lambda i, o: ["import-nir", i, "--out", o], "nir", "handle_import_nir", "file"),
    "train": (lambda i, o: ["train", "--init", i, "--out", o], "train", "handle_train", "directory"),
    "pipeline": (lambda i, o: ["pipeline", "--checkpoint", i, "--out", o], "train", "handle_pipeline",
                 "directory"),
}


def _destination(case, kind, tmp_path, request):
    """(output path, words the error names) for a bad destination."""
    if case == "read-only":
        return request.getfixturevalue("readonly_dir") / "sub" / "x", "read-only file system"
    if case == "parent is a file":
        (tmp_path / "afile").write_bytes(b"file")
        return tmp_path / "afile" / "x", f"{tmp_path / 'afile'} is not a directory"
    if case == "in the way":
        if kind == "file":
            (tmp_path / "adir").mkdir()
            return tmp_path / "adir", "it is a directory"
        (tmp_path / "afile").write_bytes(b"file")
        return tmp_path / "afile", "it exists and is not a directory"
    assert case == "the input"
    return tmp_path / "input.bin", "it is also an input"


@pytest.mark.parametrize("case", ["read-only", "parent is a file", "in the way", "the input"])
@pytest.mark.parametrize("command", OUTPUTS)
def test_bad_destination_is_refused_before_the_work(command, case, tmp_path, request, monkeypatch, capsys):
    argv, module, handler, kind = OUTPUTS[command]
    monkeypatch.setattr(getattr(cli, module), handler, lambda ns: pytest.fail("the work started"))
    source = tmp_path / "input.bin"
    source.write_bytes(b"input bytes")
    out, reason = _destination(case, kind, tmp_path, request)
    before = sorted(tmp_path.rglob("*"))
    line = run_main(capsys, *argv(source, out))
    assert line.startswith(f"lava-msf: error: cannot write {out}: ") and reason in line
    assert sorted(tmp_path.rglob("*")) == before and source.read_bytes() == b"input bytes"


def test_out_equal_to_the_input_by_another_name(tmp_path, monkeypatch, capsys):
    """`run x.net --out x.net` turned the network into JSON; other spellings of
    the same file are caught too (relative path, symbolic and hard links)."""
    net = tmp_path / "x.net"
    write_net(small_net(), net)
    before = net.read_bytes()
    (tmp_path / "link.net").symlink_to(net)
    (tmp_path / "hard.net").hardlink_to(net)
    monkeypatch.chdir(tmp_path)
    for out in ("x.net", "./sub/../x.net", "link.net", "hard.net"):
        assert "it is also an input" in run_main(capsys, "run", net, "--backend", "reference", "--out", out)
    assert net.read_bytes() == before


def test_pipeline_export_onto_its_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "model.net"
    ckpt.write_bytes(b"a checkpoint")
    line = run_main(capsys, "pipeline", "--checkpoint", ckpt, "--out", tmp_path)
    assert line == f"lava-msf: error: cannot write {ckpt}: it is the checkpoint given"
    assert ckpt.read_bytes() == b"a checkpoint" and [p.name for p in tmp_path.iterdir()] == ["model.net"]


def test_two_outputs_in_one_place(tmp_path, capsys):
    same = tmp_path / "r"
    line = run_main(capsys, "report", DIGITS_NET, "--out", same, "--plots", same)
    assert line == f"lava-msf: error: cannot write {same}: it is also another output of this command"
    assert not same.exists()


# --- options: never silently replaced, refused before any work -----------------

@pytest.mark.parametrize("argv, option", [
    (["stream", "m.net", "--events", "e.h5", "--bin-us", "0"], "--bin-us"),
    (["stream", "m.net", "--events", "e.h5", "--window", "0"], "--window"),
    (["stream", "m.net", "--events", "e.h5", "--reset", "0"], "--reset"),
    (["stream", "m.net", "--events", "e.h5", "--sensor", "4", "0"], "--sensor"),
    (["stream", "m.net", "--events", "e.h5", "--sensor", "4", "100000"], "--sensor"),
    (["stream", "m.net", "--events", "e.h5", "--start-us", "-1"], "--start-us"),
    (["stream", "m.net", "--events", "e.h5", "--chunk-events", "x"], "--chunk-events"),
    (["stream", "m.net", "--events", "e.h5", "--chunk-steps", "0"], "--chunk-steps"),
    (["import-sdt", "c.pth", "--variant", "15m", "--out", "o.pt", "--timesteps", "0"], "--timesteps"),
    (["import-sdt", "c.pth", "--variant", "15m", "--out", "o.pt", "--img-size", "-3"], "--img-size"),
    (["check", "m.net", "--reference-samples", "-5"], "--reference-samples"),
    (["check", "m.net", "--timesteps", "0"], "--timesteps"),
    (["pipeline", "--out", "p", "--lava-samples", "0"], "--lava-samples"),
    (["train", "--out", "p", "--epochs", "0"], "--epochs"),
    (["train", "--out", "p", "--lr", "nan"], "--lr"),
    (["train", "--out", "p", "--batch-size", "1e3"], "--batch-size"),
    (["train", "--out", "p", "--timesteps", "99999999999"], "--timesteps"),
    (["train", "--out", "p", "--device", "foo"], "--device"),
    (["run", "m.net", "--batch", "0"], "--batch"),
    (["export", "c.pt", "--out", "o.net", "--samples", "0"], "--samples"),
    (["report", "m.net", "--samples", "-1"], "--samples"),
    (["inspect", "msf_micro", "--timesteps", "0"], "--timesteps"),
])
def test_bad_option_values(argv, option, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = run_main(capsys, *argv)
    assert f"argument {option}: " in line and f"got {argv[-1]!r}" in line
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the output folder


def test_cuda_device_that_is_not_there(tmp_path, monkeypatch, capsys):
    import lava_msf.train.trainer as trainer

    monkeypatch.setattr(trainer, "train", lambda args: pytest.fail("training started"))
    line = run_main(capsys, "train", "--device", "cuda:99", "--out", tmp_path / "o")
    assert "--device cuda:99" in line and not (tmp_path / "o").exists()


def test_error_line_is_one_short_line(tmp_path, capsys):
    """A file can put a megabyte (and newlines) into a message; the line stays short."""
    path = tmp_path / "big-type.net"
    write_net(small_net(), path)
    with h5py.File(path, "r+") as f:
        del f["layer/1/type"]
        f["layer/1/type"] = "conv\n" + "x" * (1 << 20)
    line = run_main(capsys, "inspect", path)
    assert str(path) in line and "unknown layer type" in line
    assert len(line) <= len("lava-msf: error: ") + ERROR_CHARS


def test_a_long_error_is_cut_at_the_line_limit(tmp_path, capsys):
    """The reader already shortens what a file says; a message long for another
    reason (here a deep path) is cut by the CLI at ERROR_CHARS."""
    deep = tmp_path.joinpath(*["d" * 200] * 4)
    deep.mkdir(parents=True)
    line = run_main(capsys, "inspect", deep / "missing.net")
    assert line.endswith("...") and len(line) == len("lava-msf: error: ") + ERROR_CHARS


def test_parsing_loads_neither_torch_nor_lava():
    code = ("import sys; from lava_msf.cli import build_parser; "
            "build_parser().parse_args(['run', 'x.net', '--samples', '2']); "
            "print(sorted(m for m in ('torch', 'lava', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_usage_errors_are_one_line(capsys):
    assert "invalid choice: 'bogus'" in run_main(capsys, "bogus")
    assert "unrecognized arguments: --nope" in run_main(capsys, "models", "--nope")
    assert "one of the arguments --events --scenes is required" in run_main(capsys, "stream", "m.net")
