"""No code runs from a checkpoint: a TorchScript archive (which torch.load hands
to torch.jit.load, running its code, even with weights_only=True) and any zip
that is not a plain torch.save of tensors are refused before torch reads them,
by every command that reads a checkpoint."""

import pytest
import torch

from lava_msf import create_model, import_official
from lava_msf.cli import main
from lava_msf.errors import CheckpointError
from lava_msf.export import export_network
from lava_msf.model.official import load_official_checkpoint
from lava_msf.netfile import write_net
from lava_msf.train import TrainArgs, evaluate_checkpoint, load_model, read_checkpoint, save_checkpoint, train


class Payload(torch.nn.Module):
    """Its scripted __setstate__, run by torch.jit.load, creates the file `marker`."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.mapped = torch.zeros(1)

    def forward(self, x):
        return x + self.mapped

    @torch.jit.export
    def __getstate__(self):
        return (self.marker, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]):
        self.mapped = torch.from_file(state[0], shared=True, size=8)  # creates the file
        self.marker = state[0]
        self.training = state[1]


def torchscript_payload(folder, name="model.pt"):
    """(archive, marker): a TorchScript archive that creates `marker` when loaded."""
    path, marker = folder / name, folder / f"{name}.code-ran"
    torch.jit.save(torch.jit.script(Payload(str(marker))), str(path))
    return path, marker


def test_the_payload_runs_code_under_torch_load(tmp_path):
    """The threat is real: torch.load(weights_only=True) runs the archive's code."""
    path, marker = torchscript_payload(tmp_path)
    with pytest.warns(UserWarning, match="TorchScript"):
        torch.load(path, weights_only=True)
    assert marker.exists()


@pytest.fixture
def payload(tmp_path):
    path, marker = torchscript_payload(tmp_path)
    yield path
    assert not marker.exists(), "the checkpoint's code ran"


def test_library_readers_refuse_torchscript(payload, tmp_path):
    readers = [read_checkpoint, load_model, lambda p: evaluate_checkpoint(p, "digits"),
               load_official_checkpoint, lambda p: import_official(p, "15m"),
               lambda p: train(TrainArgs(model="msf_micro", init=str(p), out=str(tmp_path / "init"), epochs=1))]
    for read in readers:
        with pytest.raises(CheckpointError, match=f"{payload}.*TorchScript"):
            read(payload)
    resume = tmp_path / "resume"
    resume.mkdir()
    (resume / "last.pt").write_bytes(payload.read_bytes())
    with pytest.raises(CheckpointError, match="last.pt.*TorchScript"):
        train(TrainArgs(model="msf_micro", out=str(resume), epochs=1, resume=True))


def test_only_plain_tensor_zips_are_read(tmp_path):
    import zipfile

    good = tmp_path / "good.pt"
    save_checkpoint(good, create_model("msf_micro"), epoch=1, metrics={})
    assert read_checkpoint(good)["epoch"] == 1
    extra = tmp_path / "extra.pt"  # a valid checkpoint with a member torch.save never writes
    extra.write_bytes(good.read_bytes())
    with zipfile.ZipFile(extra, "a") as z:
        z.writestr(f"{z.namelist()[0].split('/')[0]}/extra/hook.py", "print('hi')")
    with pytest.raises(CheckpointError, match=r"extra\.pt.*'extra/hook\.py'"):
        read_checkpoint(extra)
    legacy = tmp_path / "legacy.pt"
    torch.save({"a": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match=r"legacy\.pt.*legacy"):
        read_checkpoint(legacy)
    with pytest.raises(CheckpointError, match=r"legacy\.pt.*legacy"):
        load_official_checkpoint(legacy)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        read_checkpoint(junk)


def _cli_commands(ckpt, tmp_path):
    net = tmp_path / "micro.net"
    write_net(export_network(create_model("msf_micro", timesteps=2)), net)
    resume = tmp_path / "resume"
    resume.mkdir()
    (resume / "last.pt").write_bytes(ckpt.read_bytes())
    train = ["train", "--model", "msf_micro", "--epochs", "1", "--limit-train", "4", "--no-progress"]
    return {
        "eval": ["eval", str(ckpt)],
        "export": ["export", str(ckpt), "--out", str(tmp_path / "x.net")],
        "import-sdt": ["import-sdt", str(ckpt), "--variant", "15m", "--out", str(tmp_path / "x.pt")],
        "report": ["report", str(net), "--dataset", "digits", "--samples", "2", "--no-progress",
                   "--checkpoint", str(ckpt)],
        "train --init": [*train, "--out", str(tmp_path / "init"), "--init", str(ckpt)],
        "train --resume": [*train, "--out", str(resume), "--resume"],
        "pipeline": ["pipeline", "--out", str(tmp_path / "pipe"), "--checkpoint", str(ckpt), "--no-progress"],
    }


def test_every_command_refuses_torchscript(payload, tmp_path, capsys):
    """Each command through the CLI's entry point, in this interpreter (torch is
    loaded already: a subprocess per command spent its time importing it)."""
    resume_ckpt = tmp_path / "resume" / "last.pt"
    for command, args in _cli_commands(payload, tmp_path).items():
        capsys.readouterr()
        rc = main(args)  # anything but a LavaMsfError would propagate and fail the test
        err = capsys.readouterr().err
        errors = [ln for ln in err.splitlines() if ln.startswith("lava-msf: error:")]
        assert rc == 2, (command, err[-2000:])
        assert len(errors) == 1 and "TorchScript" in errors[0] and "Traceback" not in err, command
        named = resume_ckpt if command == "train --resume" else payload
        assert f"{named}:" in errors[0], (command, errors)
    assert not (tmp_path / "x.net").exists() and not (tmp_path / "x.pt").exists()
