"""Import of official SDT-V2 checkpoints (BICLab/Spike-Driven-Transformer-V2,
`classification/models.py`, `Spiking_vit_MetaFormer`) into MetaSpikeFormer.

The official model and ours are the same network with different module names:
``official_key_map`` is the one table between the two layouts. Differences in
tensor layout: SLAYER synapses carry a trailing time-kernel axis of 1, the
MLP's Conv1d kernels become 1x1 convs, and a distillation head (``head_kd``)
is folded into the head, as the official eval forward averages the two.
"""

import pickle
import types
from dataclasses import dataclass, field

import torch

from ..errors import CheckpointError, ConfigError
from .metaspikeformer import MetaSpikeFormer
from .registry import PAPER_DEPTHS, model_config

VARIANTS = {"15m": "msf_15m", "8_384": "msf_8_384", "8_512": "msf_8_512", "8_768": "msf_8_768"}
OFFICIAL_DEFAULT_TIMESTEPS = 1  # Spiking_vit_MetaFormer.T before main_finetune sets --time_steps
_BN = ("weight", "bias", "running_mean", "running_var")


def _conv_block_map(src: str, dst: str) -> dict:
    m = {f"{src}.Conv.pwconv1": f"{dst}.sepconv.pw1", f"{src}.Conv.dwconv": f"{dst}.sepconv.dw",
         f"{src}.Conv.pwconv2": f"{dst}.sepconv.pw2", f"{src}.conv1": f"{dst}.channel_conv.conv1",
         f"{src}.conv2": f"{dst}.channel_conv.conv2"}
    bns = {f"{src}.Conv.bn1": f"{dst}.sepconv.bn1", f"{src}.Conv.bn2": f"{dst}.sepconv.bn2",
           f"{src}.bn1": f"{dst}.channel_conv.bn1", f"{src}.bn2": f"{dst}.channel_conv.bn2"}
    return _expand(m, ("weight",)) | _expand(bns, _BN)


def _repconv_map(src: str, dst: str) -> dict:
    # RepConv.body = (1x1, BNAndPadLayer, Sequential(depthwise 3x3, 1x1, BN))
    m = _expand({f"{src}.body.0": f"{dst}.pw_in", f"{src}.body.2.0": f"{dst}.dw",
                 f"{src}.body.2.1": f"{dst}.pw_out"}, ("weight",))
    return m | _expand({f"{src}.body.1.bn": f"{dst}.bn_pad", f"{src}.body.2.2": f"{dst}.bn"}, _BN)


def _transformer_block_map(src: str, dst: str) -> dict:
    m = {}
    for name in ("q", "k", "v", "proj"):  # attn.<x>_conv = Sequential(RepConv, BatchNorm2d)
        m |= _repconv_map(f"{src}.attn.{name}_conv.0", f"{dst}.sdsa.{name}_conv")
        m |= _expand({f"{src}.attn.{name}_conv.1": f"{dst}.sdsa.{name}_bn"}, _BN)
    m |= _expand({f"{src}.mlp.fc1_conv": f"{dst}.mlp.fc1", f"{src}.mlp.fc2_conv": f"{dst}.mlp.fc2"},
                 ("weight", "bias"))
    return m | _expand({f"{src}.mlp.fc1_bn": f"{dst}.mlp.bn1", f"{src}.mlp.fc2_bn": f"{dst}.mlp.bn2"}, _BN)


def _downsample_map(src: str, dst: str) -> dict:
    return _expand({f"{src}.encode_conv": f"{dst}.conv"}, ("weight", "bias")) | \
        _expand({f"{src}.encode_bn": f"{dst}.bn"}, _BN)


def _expand(modules: dict, params) -> dict:
    return {f"{s}.{p}": f"{d}.{p}" for s, d in modules.items() for p in params}


def official_key_map() -> dict:
    """Official state_dict key -> MetaSpikeFormer state_dict key (paper depths),
    for every tensor inference needs. The official model hard-codes the paper's
    depths (1, 1, 2, 6, 2), which fix the stage indices below."""
    assert PAPER_DEPTHS == (1, 1, 2, 6, 2)
    m = _downsample_map("downsample1_1", "stem")
    m |= _conv_block_map("ConvBlock1_1.0", "stage1.0") | _downsample_map("downsample1_2", "stage1.1")
    m |= _conv_block_map("ConvBlock1_2.0", "stage1.2") | _downsample_map("downsample2", "stage2.0")
    m |= _conv_block_map("ConvBlock2_1.0", "stage2.1") | _conv_block_map("ConvBlock2_2.0", "stage2.2")
    m |= _downsample_map("downsample3", "stage3.0")
    for j in range(6):
        m |= _transformer_block_map(f"block3.{j}", f"stage3.{1 + j}")
    m |= _downsample_map("downsample4", "stage4.0")
    for j in range(2):
        m |= _transformer_block_map(f"block4.{j}", f"stage4.{1 + j}")
    return m | {"head.weight": "head.fc.weight", "head.bias": "head.fc.bias"}


@dataclass
class ImportReport:
    """What happened to every tensor of the official state_dict."""
    variant: str
    source: str
    consumed: list = field(default_factory=list)
    folded: dict = field(default_factory=dict)  # key -> how it was folded
    skipped: dict = field(default_factory=dict)  # key -> why it is not needed
    unused: list = field(default_factory=list)  # keys this importer does not know
    num_classes: int = 0
    in_channels: int = 0
    timesteps: int = 0

    def as_dict(self) -> dict:
        return {"variant": self.variant, "source": self.source, "consumed": len(self.consumed),
                "folded": self.folded, "skipped": self.skipped, "unused": self.unused,
                "num_classes": self.num_classes, "in_channels": self.in_channels, "timesteps": self.timesteps}


class _Inert:
    """Stands in for any class or function a pickle names outside torch's
    weights-only allowlist (e.g. the official checkpoint's argparse.Namespace):
    building one runs nothing from the file, it only keeps its state."""
    name = "?"

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        allowed = torch._weights_only_unpickler._get_allowed_globals()
        full = f"{module}.{name}"
        if full in allowed:
            return allowed[full]
        return type(name, (_Inert,), {"name": full})


_INERT_PICKLE = types.ModuleType("lava_msf_inert_pickle")
_INERT_PICKLE.Unpickler = _InertUnpickler


def load_official_checkpoint(path) -> tuple[dict, dict]:
    """(state_dict, other entries) of an official checkpoint file.

    Read by lava-msf's one checkpoint reader (plain torch zips only, with the
    weights-only loader). The official save_model() also pickles its
    argparse.Namespace, which that loader refuses; such files are read with the
    same allowlist, every other global replaced by an inert stand-in, so no
    code from the file runs either way.
    """
    from ..train.checkpoint import load_tensor_file

    return _split_checkpoint(load_tensor_file(path, inert_pickle=_INERT_PICKLE), str(path))


def _split_checkpoint(obj, source: str) -> tuple[dict, dict]:
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        state, rest = obj["model"], {k: v for k, v in obj.items() if k != "model"}
    elif isinstance(obj, dict):
        state, rest = obj, {}
    else:
        raise CheckpointError(f"{source}: expected a state_dict or a dict with a 'model' entry, "
                              f"got {type(obj).__name__}")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{source}: state_dict entry {bad[0]!r} is not a named tensor")
    # A DistributedDataParallel wrapper prefixes every key with 'module.'.
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state, rest


def _saved_timesteps(rest: dict):
    args = rest.get("args")
    return getattr(args, "state", {}).get("time_steps") if isinstance(args, _Inert) else None


def import_official(path_or_state_dict, variant: str, timesteps: int | None = None, img_size: int = 224,
                    neuron: str = "float") -> MetaSpikeFormer:
    """An official SDT-V2 checkpoint as a MetaSpikeFormer in eval mode.

    ``m(x)`` takes official-layout input (B, C, img_size, img_size), repeats it
    over ``m.timesteps`` steps and returns logits (B, classes) averaged over
    time, as the official forward does. ``timesteps`` defaults to the
    checkpoint's saved ``args.time_steps``, else the official default (1).
    With ``neuron="float"`` (spikingjelly's LIF) the logits equal the official
    model's. Classes and input channels come from the weights. What happened
    to every tensor is in ``m.import_report``.
    """
    if variant not in VARIANTS:
        raise ConfigError(f"unknown SDT-V2 variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if isinstance(path_or_state_dict, dict):
        source = "<state_dict>"
        state, rest = _split_checkpoint(path_or_state_dict, source)
    else:
        source = str(path_or_state_dict)
        state, rest = load_official_checkpoint(path_or_state_dict)
    report = ImportReport(variant, source)
    mapping = official_key_map()
    for key in ("head.weight", "downsample1_1.encode_conv.weight"):
        if key not in state:
            raise CheckpointError(f"{source}: official state_dict has no {key!r} (not an SDT-V2 "
                                  f"Spiking_vit_MetaFormer checkpoint?)")
    timesteps = timesteps or _saved_timesteps(rest) or OFFICIAL_DEFAULT_TIMESTEPS
    model = MetaSpikeFormer(model_config(
        VARIANTS[variant], num_classes=int(state["head.weight"].shape[0]),
        in_channels=int(state["downsample1_1.encode_conv.weight"].shape[1]), img_size=img_size,
        timesteps=int(timesteps), sdsa="v2", neuron=neuron))
    report.num_classes, report.in_channels, report.timesteps = (
        model.config["num_classes"], model.config["in_channels"], model.timesteps)

    ours = model.state_dict()
    head = _folded_head(state, report)
    new_state = {}
    for key, value in state.items():
        if key in mapping:
            value = head.get(key, value)
            target = ours[mapping[key]]
            if value.numel() != target.numel() or value.shape != target.shape[:value.dim()]:
                raise CheckpointError(
                    f"{source}: {key!r} has shape {tuple(value.shape)}; variant {variant} expects "
                    f"{tuple(target.shape[:value.dim()])} (wrong variant?)")
            new_state[mapping[key]] = value.reshape(target.shape).to(target.dtype)
            report.consumed.append(key)
        elif key.endswith("num_batches_tracked"):
            report.skipped[key] = "BatchNorm update counter, not used in eval mode"
        elif key not in report.folded:
            report.unused.append(key)
    missing = [k for k, v in mapping.items() if k not in state]
    if missing:
        raise CheckpointError(f"{source}: official state_dict lacks {missing[0]!r}"
                              f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''} "
                              f"(a different model than SDT-V2 {variant}?)")
    for key, value in ours.items():  # ours-only buffers (BN counters) keep their values
        new_state.setdefault(key, value)
    model.load_state_dict(new_state)
    model.import_report = report
    return model.eval()


def _folded_head(state: dict, report: ImportReport) -> dict:
    """The official eval forward of a distilled model returns (head(x) + head_kd(x)) / 2;
    both are linear in the same spikes, so the average is one linear layer."""
    if "head_kd.weight" not in state:
        return {}
    folded = {}
    for p in ("weight", "bias"):
        kd = state.get(f"head_kd.{p}")
        if kd is None or kd.shape != state[f"head.{p}"].shape:
            raise CheckpointError(f"{report.source}: 'head_kd.{p}' is missing or does not match 'head.{p}'")
        folded[f"head.{p}"] = (state[f"head.{p}"].double() + kd.double()).div(2).float()
        report.folded[f"head_kd.{p}"] = f"averaged into head.{p} (the official eval output of a kd model)"
    return folded


def import_official_checkpoint(src, variant: str, out, timesteps: int | None = None, img_size: int = 224,
                               neuron: str = "float") -> ImportReport:
    """import_official, saved as a lava-msf checkpoint at `out` (written atomically)."""
    from ..train.checkpoint import save_checkpoint

    model = import_official(src, variant, timesteps, img_size, neuron)
    report = model.import_report
    save_checkpoint(out, model, epoch=0, metrics={}, train_args={"imported_from": report.source,
                                                                 "sdt_variant": variant})
    return report

