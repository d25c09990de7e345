"""Documented limits of a Loihi 2 chip, each with where it comes from
(docs/loihi-mapping.md lists the sources). Published numbers and Lava's
bit-accurate process models are facts; the memory cost per synapse and per
neuron is this project's assumption, marked as such."""

from dataclasses import dataclass

from ..errors import ConfigError

# Citation keys, expanded in docs/loihi-mapping.md
BRIEF = "Intel Loihi 2 technology brief (2021)"
LAVA = "Lava 0.10 bit-accurate process models (lava.proc)"
LOIHI1 = "Davies et al., Loihi, IEEE Micro 2018 (Loihi 1 value, assumed for Loihi 2)"
ASSUMED = "lava-msf assumption"


@dataclass(frozen=True)
class Limit:
    value: int
    unit: str
    source: str


@dataclass(frozen=True)
class Target:
    name: str
    limits: dict  # name -> Limit

    def __getitem__(self, key: str) -> int:
        return self.limits[key].value


LOIHI2 = Target("loihi2", {
    "cores_per_chip": Limit(128, "neuro-cores", BRIEF),
    "neurons_per_chip": Limit(1 << 20, "neurons", BRIEF),
    "synapses_per_chip": Limit(120_000_000, "synapses", BRIEF),
    "neurons_per_core": Limit(8192, "neurons", BRIEF + ": 1M neurons / 128 cores"),
    "memory_per_core": Limit(192 * 1024, "bytes", BRIEF),
    "input_axons_per_core": Limit(4096, "distinct sources into one neuron's core", LOIHI1),
    "weight_bits": Limit(8, "bits, mixed sign, + shared weight_exp", LAVA + " Dense/Sparse num_weight_bits"),
    "message_bits": Limit(24, "bits of a graded spike", LAVA + " GradedVec/ProdNeuron s_out precision"),
    "synapse_accumulator_bits": Limit(24, "bits, saturating", LAVA + " Conv fixed-point model"),
    "state_bits": Limit(24, "bits of u and v", LAVA + " LIF u, v precision"),
    "decay_bits": Limit(12, "bits of du, dv", LAVA + " LIF du, dv precision"),
    "threshold_bits": Limit(17, "bits of vth", LAVA + " LIF vth precision"),
    "bias_mant_bits": Limit(13, "bits of bias_mant (signed)", LAVA + " LIF bias_mant precision"),
    "delay_bits": Limit(6, "bits of a synaptic delay", LAVA + " DelaySparse (Loihi 2: 0..63 steps)"),
    "synapse_bytes": Limit(2, "bytes per synapse: 8-bit weight + 8 bits of index", ASSUMED),
    "neuron_bytes": Limit(8, "bytes per neuron: u, v (24 bits each) + config", ASSUMED),
})

def signed_bits(x: int) -> int:
    """Bits of a signed integer range holding -x..x."""
    return int(x).bit_length() + 1


TARGETS = {t.name: t for t in (LOIHI2,)}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ConfigError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    return TARGETS[name]
