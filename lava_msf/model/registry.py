"""Named Meta-SpikeFormer configurations and create_model(name, ...)."""

from ..errors import ConfigError
from ..events.core import is_int
from ..memory import usable_memory
from ..tasks import READOUTS
from .heads import TASKS, DenseMetaSpikeFormer
from .layers import SDSA_VARIANTS
from .metaspikeformer import MetaSpikeFormer
from .neuron import check_mode

PAPER_DEPTHS = (1, 1, 2, 6, 2)

# Paper sizes: 1000 classes, 224 x 224 RGB. CPU sizes keep every block type.
_CONFIGS = {
    "msf_15m": dict(embed_dim=(64, 128, 256, 360), depths=PAPER_DEPTHS, heads=8),
    "msf_8_384": dict(embed_dim=(96, 192, 384, 480), depths=PAPER_DEPTHS, heads=8),
    "msf_8_512": dict(embed_dim=(128, 256, 512, 640), depths=PAPER_DEPTHS, heads=8),
    "msf_8_768": dict(embed_dim=(192, 384, 768, 960), depths=PAPER_DEPTHS, heads=8),
    "msf_tiny": dict(embed_dim=(32, 64, 128, 128), depths=(1, 1, 1, 2, 1), heads=8,
                     num_classes=10, in_channels=1, img_size=32),
    "msf_micro": dict(embed_dim=(8, 16, 16, 16), depths=(1, 1, 1, 1, 1), heads=2,
                      num_classes=10, in_channels=1, img_size=32),
}
# Dense heads: every paper size with an FPN decoder (for `inspect`), and tiny
# CPU-trainable ones for the 64 x 64 scenes (T = 2 to fit 30 CPU minutes).
_TINY_DENSE = dict(embed_dim=(16, 32, 64, 64), depths=(1, 1, 1, 1, 1), heads=4, num_classes=10,
                   in_channels=1, img_size=64, timesteps=2, decoder_width=32)
for _task, _suffix in (("detect", "det"), ("segment", "seg")):
    for _name in ("msf_15m", "msf_8_384", "msf_8_512", "msf_8_768"):
        _CONFIGS[f"{_name}_{_suffix}"] = dict(_CONFIGS[_name], task=_task, decoder_width=256, num_classes=80)
    _CONFIGS[f"msf_tiny_{_suffix}"] = dict(_TINY_DENSE, task=_task)
_DEFAULTS = dict(num_classes=1000, in_channels=3, img_size=224, timesteps=4, sdsa="v2",
                 neuron="deploy", mlp_ratio=4, task="classify", decoder_width=32, readout="mean")


def list_models() -> list[str]:
    return sorted(_CONFIGS)


def model_config(name: str, **overrides) -> dict:
    """The full, plain-typed configuration of a named model with overrides applied."""
    if not isinstance(name, str) or name not in _CONFIGS:
        raise ConfigError(f"unknown model {str(name)[:80]!r}; choose one of {', '.join(list_models())}")
    config = {**_DEFAULTS, **_CONFIGS[name], "name": name}
    unknown = set(map(str, overrides)) - set(config)
    if unknown:
        raise ConfigError(f"unknown model option(s): {', '.join(sorted(unknown))[:200]}")
    config.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("embed_dim", "depths"):
        if not isinstance(config[key], (list, tuple)) or not all(is_int(v) for v in config[key]):
            raise ConfigError(f"{name}: {key} must be a list of integers, got {str(config[key])[:80]}")
        config[key] = [int(v) for v in config[key]]
    _validate(config)
    return config


def _validate(c: dict) -> None:
    check_mode(c["neuron"])
    if c["task"] not in TASKS:
        raise ConfigError(f"{c['name']}: unknown task {str(c['task'])[:40]!r}; choose one of {', '.join(TASKS)}")
    if not is_int(c["decoder_width"]) or c["decoder_width"] < 1:
        raise ConfigError(f"{c['name']}: decoder_width must be a positive integer, got {c['decoder_width']!r}")
    if c["readout"] not in READOUTS:
        raise ConfigError(f"{c['name']}: unknown readout {str(c['readout'])[:40]!r}; choose one of {', '.join(READOUTS)}")
    if c["readout"] != "mean" and c["task"] == "classify":
        raise ConfigError(f"{c['name']}: a classifier's decision is the mean over T (readout 'mean')")
    if c["sdsa"] not in SDSA_VARIANTS:
        raise ConfigError(f"unknown SDSA variant {c['sdsa']!r}; choose one of {', '.join(SDSA_VARIANTS)}")
    for key in ("num_classes", "in_channels", "img_size", "timesteps"):
        if not is_int(c[key]) or c[key] < 1:
            raise ConfigError(f"{c['name']}: {key} must be a positive integer, got {c[key]!r}")
    if c["img_size"] % 16:
        raise ConfigError(f"{c['name']}: img_size must be a multiple of 16 (4 stride-2 stages), got {c['img_size']}")
    if not (is_int(c["heads"]) and is_int(c["mlp_ratio"]) and c["heads"] >= 1 and c["mlp_ratio"] >= 1):
        raise ConfigError(f"{c['name']}: heads and mlp_ratio must be positive integers, "
                          f"got {c['heads']!r}, {c['mlp_ratio']!r}")
    if len(c["embed_dim"]) != 4 or len(c["depths"]) != 5 or min(c["embed_dim"]) < 2 or min(c["depths"]) < 0:
        raise ConfigError(f"{c['name']}: embed_dim must be 4 widths >= 2 and depths 5 counts >= 0, "
                          f"got {c['embed_dim']}, {c['depths']}")
    if any(dim % c["heads"] for dim in c["embed_dim"][2:]):
        raise ConfigError(f"{c['name']}: stage 3/4 widths {c['embed_dim'][2:]} must divide into {c['heads']} heads")
    need, have = _estimated_bytes(c), usable_memory()
    if need > have:
        raise ConfigError(f"{c['name']}: this configuration needs about {need / 2**30:.0f} GiB (weights, optimizer "
                          f"state and one sample's activations), more than the {have / 2**30:.0f} GiB this process may use")


def _estimated_bytes(c: dict) -> int:
    """A generous estimate of one sample's training memory, checked before any
    tensor exists (a checkpoint's config must not be able to ask for terabytes)."""
    c0, c1, c2, c3 = c["embed_dim"]
    d, r, size, t = c["depths"], c["mlp_ratio"], c["img_size"], c["timesteps"]
    conv_block = lambda ch: (5 + 2 * r + r * r) * ch * ch + 200 * r * ch  # noqa: E731  SepConv + ChannelConv
    attn_block = lambda ch: (8 + 2 * r) * ch * ch + 50 * ch  # noqa: E731  Q, K, V, proj RepConvs + MLP
    params = (49 * c["in_channels"] * c0 // 2 + d[0] * conv_block(c0 // 2) + 9 * c0 * c0 // 2 + d[1] * conv_block(c0)
              + 9 * c0 * c1 + d[2] * conv_block(c1) + 9 * c1 * c2 + d[3] * attn_block(c2) + 9 * c2 * c3
              + d[4] * attn_block(c3) + c3 * c["num_classes"])
    # every intermediate map of every block is kept for the backward pass
    maps = (c["in_channels"] * size ** 2 + (1 + 10 * r * d[0]) * c0 // 2 * (size // 2) ** 2
            + (1 + 10 * r * d[1]) * c0 * (size // 4) ** 2 + (1 + 10 * r * d[2]) * c1 * (size // 8) ** 2
            + (1 + 10 * r * d[3]) * c2 * (size // 16) ** 2 + (1 + 10 * r * d[4]) * c3 * (size // 16) ** 2)
    return 4 * (4 * params + t * maps)  # float32: weights, gradient, two AdamW moments


def _build(config: dict) -> MetaSpikeFormer:
    return (MetaSpikeFormer if config["task"] == "classify" else DenseMetaSpikeFormer)(config)


def create_model(name: str, num_classes=None, in_channels=None, img_size=None, timesteps=None,
                 sdsa=None, neuron=None, task=None, **overrides) -> MetaSpikeFormer:
    """Build a named Meta-SpikeFormer, timm-style; task 'detect' or 'segment'
    puts the FPN decoder (lava_msf.model.heads) on the backbone."""
    return _build(model_config(
        name, num_classes=num_classes, in_channels=in_channels, img_size=img_size,
        timesteps=timesteps, sdsa=sdsa, neuron=neuron, task=task, **overrides))


def model_from_config(config: dict) -> MetaSpikeFormer:
    """Rebuild a model from a stored configuration (e.g. a checkpoint's)."""
    name = config.get("name")
    rest = {k: v for k, v in config.items() if k != "name"}
    return _build(model_config(name, **rest))
