"""`lava-msf inspect`: resource counts against hand counts on small networks,
violations, the CLI on a .net file and on a registry model."""

import json

import numpy as np
import pytest

from lava_msf import fixedpoint as fx
from lava_msf.chip.loihi2 import LOIHI2
from lava_msf.chip.report import inspect_network
from lava_msf.cli import main
from lava_msf.errors import GraphError
from lava_msf.graph import Layer, Network
from lava_msf.netfile import write_net


def _net():
    """in (2,4,4) -> c1 3x3 pad 1 + SN; c1 -> c2 1x1 (current); in -> c3 1x1
    (current); merge(c2, c3) -> mean. Weights constant, so bounds are hand-countable."""
    full = lambda shape, v: np.full(shape, v, dtype=np.int64)  # noqa: E731
    layers = [Layer("in", "input", (2, 4, 4)),
              Layer("c1", "conv", (3, 4, 4), (0,), neuron=fx.LifParams(), weight=full((3, 2, 3, 3), 2),
                    attrs={"padding": 1}),
              Layer("c2", "conv", (3, 4, 4), (1,), weight=full((3, 3, 1, 1), 4), weight_exp=-1,
                    bias=np.array([5, -5, 1])),
              Layer("c3", "conv", (3, 4, 4), (0,), weight=full((3, 2, 1, 1), -2), bias=np.array([0, 3, -1])),
              Layer("merge", "merge", (3, 4, 4), (2, 3)),
              Layer("mean", "mean", (3, 1, 1), (4,), attrs={"scale_mant": 16384, "scale_shift": 16})]
    return Network(layers, timesteps=2).validate()


def test_counts_match_hand_counts():
    r = inspect_network(_net(), LOIHI2)
    rows = {x["name"]: x for x in r["layers"]}
    # 3x3, pad 1 on 4x4: 2, 3, 3, 2 taps per axis (sum 10, max 3); 2 in, 3 out channels
    assert (rows["c1"]["neurons"], rows["c1"]["synapses"]) == (48, 3 * 2 * 10 * 10)
    assert (rows["c1"]["fan_in"], rows["c1"]["fan_out"]) == (2 * 9, 3 * 9)
    assert (rows["c2"]["neurons"], rows["c2"]["synapses"], rows["c2"]["fan_in"]) == (0, 3 * 3 * 16, 3)
    assert (rows["c3"]["synapses"], rows["c3"]["fan_out"]) == (2 * 3 * 16, 3)
    # c2 arrives one step after c3: a graded sum neuron per element, a relay for c3, the relay's
    # synapse and the output synapse
    assert (rows["merge"]["neurons"], rows["merge"]["synapses"]) == (2 * 48, 2 * 48)
    assert (rows["mean"]["synapses"], rows["mean"]["fan_in"], rows["mean"]["weight_exp"]) == (48, 16, -2)
    # bounds: c1 2*18 = 36 from spikes; c2 (4*3) >> 1 + 5 = 11; c3 2*2 + 3 = 7; merge 18; mean 18*16/4
    assert [rows[n]["current_bound"] for n in ("c1", "c2", "c3", "merge", "mean")] == [36, 11, 7, 18, 72]
    assert rows["c1"]["message_bits"] == 0 and rows["mean"]["message_bits"] == 24
    assert rows["c1"]["weight_bits"] == 2 and rows["c1"]["weight_exp"] == 0  # w = 2 stored as 1, signed
    t = r["totals"]
    assert t["neurons"] == 48 + 96 and t["synapses"] == 600 + 144 + 96 + 96 + 48
    assert t["weights"] == 3 * 2 * 9 + 3 * 3 + 3 * 2
    assert t["cores"] == 5 and t["chips"] == 1 and t["latency_steps"] == 3
    assert r["violations"] == [] and "c2, c3" in r["notes"][0]


def test_sdsa_counts_match_hand_counts():
    def sdsa_net(variant):
        spikes = [Layer(n, "conv", (4, 2, 2), (0,), neuron=fx.LifParams(), weight=np.full((4, 1, 1, 1), 2))
                  for n in "qkv"]
        return Network([Layer("in", "input", (1, 2, 2)), *spikes,
                        Layer("sdsa", "sdsa", (4, 2, 2), (1, 2, 3), neuron=fx.LifParams(vth_mant=32),
                              attrs={"variant": variant, "heads": 2, "scale": 4})], timesteps=2).validate()

    kv = inspect_network(sdsa_net("v1_kv"), LOIHI2)["layers"][-1]
    # 16 AND, 4 attention, 16 mask neurons; K, V, Q identities, the token sum and the broadcast
    assert (kv["neurons"], kv["synapses"], kv["fan_in"], kv["fan_out"]) == (36, 5 * 16, 4, 4)
    assert kv["current_bound"] == 4 * 4  # scale x tokens
    v2 = inspect_network(sdsa_net("v2"), LOIHI2)["layers"][-1]
    # heads 2, d 2, 4 tokens: AND 32, kv 8, products 32, attention 16; six projections of 32 synapses
    assert (v2["neurons"], v2["synapses"], v2["fan_in"], v2["fan_out"]) == (88, 6 * 32, 4, 4)
    assert v2["current_bound"] == 4 * 2 * 4 and v2["decomposition"]["latency_steps"] == 4


def test_violations_name_the_layer():
    layers = [Layer("in", "input", (1, 64, 65)),
              Layer("fc", "dense", (2, 1, 1), (0,), neuron=fx.LifParams(), weight=np.full((2, 64 * 65), 254),
                    bias=np.array([4000, 0]))]
    r = inspect_network(Network(layers, timesteps=1).validate(), LOIHI2)
    text = "\n".join(r["violations"])
    assert "layer 1 (fc): fan-in 4160 over 4096" in text
    assert "layer 1 (fc): overflow risk" not in text  # 4160 * 254 fits 24 bits
    layers[1].bias = np.array([5000, 0])  # over 13 bits: refused by the one neuron check, as by read_net and Lava
    with pytest.raises(GraphError, match=r"layer 1 \(fc\): bias up to 5000 does not fit Lava's 13-bit"):
        inspect_network(Network(layers, timesteps=1), LOIHI2)


def test_inspect_cli_on_a_file_and_a_registry_model(tmp_path, capsys):
    path = tmp_path / "small.net"
    write_net(_net(), path)
    assert main(["inspect", str(path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["totals"]["neurons"] == 144 and r["limits"]["cores_per_chip"]["source"]
    assert main(["inspect", "msf_micro", "--target", "loihi2"]) == 0
    out = capsys.readouterr().out
    assert "chip(s)" in out and "sdsa" in out
    assert main(["inspect", str(path), "--target", "loihi9"]) == 2
    assert "unknown target 'loihi9'" in capsys.readouterr().err
