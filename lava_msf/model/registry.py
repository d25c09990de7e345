"""Named Meta-SpikeFormer configurations and create_model(name, ...)."""

from ..errors import ConfigError
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
_DEFAULTS = dict(num_classes=1000, in_channels=3, img_size=224, timesteps=4, sdsa="v2",
                 neuron="deploy", mlp_ratio=4)


def list_models() -> list[str]:
    return sorted(_CONFIGS)


def model_config(name: str, **overrides) -> dict:
    """The full, plain-typed configuration of a named model with overrides applied."""
    if name not in _CONFIGS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    config = {**_DEFAULTS, **_CONFIGS[name], "name": name}
    unknown = set(overrides) - set(config)
    if unknown:
        raise ConfigError(f"unknown model option(s): {', '.join(sorted(unknown))}")
    config.update({k: v for k, v in overrides.items() if v is not None})
    config["embed_dim"] = [int(c) for c in config["embed_dim"]]
    config["depths"] = [int(d) for d in config["depths"]]
    _validate(config)
    return config


def _validate(c: dict) -> None:
    check_mode(c["neuron"])
    if c["sdsa"] not in SDSA_VARIANTS:
        raise ConfigError(f"unknown SDSA variant {c['sdsa']!r}; choose one of {', '.join(SDSA_VARIANTS)}")
    for key in ("num_classes", "in_channels", "img_size", "timesteps"):
        if not isinstance(c[key], int) or c[key] < 1:
            raise ConfigError(f"{c['name']}: {key} must be a positive integer, got {c[key]!r}")
    if c["img_size"] % 16:
        raise ConfigError(f"{c['name']}: img_size must be a multiple of 16 (4 stride-2 stages), got {c['img_size']}")
    if any(dim % c["heads"] for dim in c["embed_dim"][2:]):
        raise ConfigError(f"{c['name']}: stage 3/4 widths {c['embed_dim'][2:]} must divide into {c['heads']} heads")


def create_model(name: str, num_classes=None, in_channels=None, img_size=None, timesteps=None,
                 sdsa=None, neuron=None, **overrides) -> MetaSpikeFormer:
    """Build a named Meta-SpikeFormer, timm-style."""
    return MetaSpikeFormer(model_config(
        name, num_classes=num_classes, in_channels=in_channels, img_size=img_size,
        timesteps=timesteps, sdsa=sdsa, neuron=neuron, **overrides))


def model_from_config(config: dict) -> MetaSpikeFormer:
    """Rebuild a model from a stored configuration (e.g. a checkpoint's)."""
    name = config.get("name")
    rest = {k: v for k, v in config.items() if k != "name"}
    return MetaSpikeFormer(model_config(name, **rest))
