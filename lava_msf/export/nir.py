"""A trained model (torch) -> NIR graph (docs/nir.md, "The float-neuron model"). The graph is
lava_msf.nir's export of the model's integer network, built once by the exporter; `neuron`
chooses its values:

- "float": the float-neuron model (docs/neuron.md): the float weights and biases the integers
  quantize (BatchNorm folded, RepConv fused), the token mean's exact 1 / tokens, and each SN as
  NIR's LIF firing at v >= v_th. The float LIF H = V + (X - V) / tau is NIR's LIF under Euler
  with dt / tau_NIR = 1 / tau, r = 1 (here X / tau in the weights and r = tau, the same);
- "deploy": the .net's integers, as `lava-msf export` then `export-nir` write them."""

from ..errors import ConfigError
from ..model.neuron import NEURON_MODES
from ..nir import export_nir
from .exporter import export_with_floats


def export_nir_from_model(model, dt: float | None = None, client: str | None = None, neuron: str = "float"):
    """`model` (a MetaSpikeFormer) as a nir.NIRGraph for time step `dt` (lava_msf.nir.export_nir:
    dt, client), of its float-neuron model or of its deployable integer network (`neuron`)."""
    if neuron not in NEURON_MODES:
        raise ConfigError(f"neuron must be one of {', '.join(NEURON_MODES)}, got {str(neuron)[:40]!r}")
    net, floats = export_with_floats(model)
    return export_nir(net, dt, client, floats if neuron == "float" else None)


def export_nir_from_checkpoint(path, dt: float | None = None, client: str | None = None, neuron: str = "float"):
    """The model of checkpoint `path` as a NIR graph (export_nir_from_model)."""
    from ..train.checkpoint import load_model

    return export_nir_from_model(load_model(path)[0], dt, client, neuron)
