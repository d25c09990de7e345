import pytest

import lava_msf
from lava_msf.errors import ConfigError
from lava_msf.model import layers

PAPER_PARAMS = {"msf_15m": 15.11e6, "msf_8_384": 31.33e6, "msf_8_512": 55.35e6, "msf_8_768": 123.7e6}


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_paper_parameter_counts(name):
    model = lava_msf.create_model(name, num_classes=1000, in_channels=3, img_size=224)
    assert abs(trainable(model) - PAPER_PARAMS[name]) <= 0.05e6


def test_registry_lists_all_sizes():
    sizes = set(PAPER_PARAMS) | {"msf_tiny"}
    dense = {f"{n}_{task}" for n in sizes for task in ("det", "seg")}
    assert set(lava_msf.list_models()) == sizes | {"msf_micro"} | dense


@pytest.mark.parametrize("name", ["msf_tiny", "msf_micro"])
def test_cpu_sizes_keep_every_block_type(name):
    model = lava_msf.create_model(name)
    kinds = {type(m) for m in model.modules()}
    for cls in (layers.Downsample, layers.ConvBlock, layers.SepConv, layers.ChannelConv,
                layers.TransformerBlock, layers.SDSA, layers.RepConv, layers.ChannelMLP, layers.Head):
        assert cls in kinds, cls.__name__
    assert model.stem.sn is None  # real-valued input, no SN before the stem
    assert model.stage4[0].conv.stride[:2] == (1, 1)


@pytest.mark.parametrize("kwargs, word", [
    (dict(name="msf_huge"), "unknown model"),
    (dict(name="msf_tiny", sdsa="v3"), "unknown SDSA variant"),
    (dict(name="msf_tiny", neuron="izhikevich"), "unknown neuron mode"),
    (dict(name="msf_tiny", img_size=40), "multiple of 16"),
    (dict(name="msf_tiny", timesteps=0), "timesteps"),
])
def test_bad_config_is_a_typed_error(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        lava_msf.create_model(**kwargs)


def test_create_model_applies_overrides():
    m = lava_msf.create_model("msf_micro", num_classes=7, in_channels=2, img_size=48, timesteps=3,
                              sdsa="v1_qk", neuron="float")
    c = m.config
    assert (c["num_classes"], c["in_channels"], c["img_size"], c["timesteps"], c["sdsa"], c["neuron"]) == \
        (7, 2, 48, 3, "v1_qk", "float")
    assert all(b.sdsa.variant == "v1_qk" for b in m.modules() if isinstance(b, layers.TransformerBlock))
    assert m.head.fc.weight.shape[0] == 7


def test_package_import_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, lava_msf, lava_msf.fixedpoint, lava_msf.errors, lava_msf.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
