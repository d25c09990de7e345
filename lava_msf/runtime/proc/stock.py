"""Lava's stock, chip-supported processes as the project uses them: the NetX
mappings of the neuron models (LIFReset; Delta, SigmaDelta, Sigma; RF, RF_IZ), and the
instantiation of a lava_msf.chip.mapping decomposition inside a SubProcessModel."""

import warnings

import numpy as np
from scipy.sparse import SparseEfficiencyWarning, csr_matrix

from lava_msf import fixedpoint as fx
from lava_msf.chip.mapping import OUTPUT, Decomposition

GRADED_BITS = 24  # message bits of a graded spike
COINCIDENCE = {"du": 4095, "dv": 4095, "vth": 1}  # memoryless AND of two 0/1 inputs (chip.mapping)

# Lava's DelaySparse model edits a CSR matrix on its first step: harmless, and
# printed by every forked model (filters set here are inherited by the forks)
warnings.filterwarnings("ignore", category=SparseEfficiencyWarning)


def lif_reset(shape, params: fx.LifParams, bias, reset_interval: int, reset_offset: int, fixed: bool,
              name: str | None = None):
    """A deployable SN as Lava's LIFReset, mapped as NetX maps CUBA:
    du = iDecay - 1, dv = vDecay, bias << 6 (fixed point), or the same in real
    arithmetic and current units (floating point)."""
    from lava.proc.lif.process import LIFReset

    b = np.zeros(shape) if bias is None else np.broadcast_to(np.asarray(bias), shape).copy()
    schedule = {"reset_interval": int(reset_interval), "reset_offset": int(reset_offset) % int(reset_interval)}
    if fixed:
        return LIFReset(shape=shape, du=params.i_decay - 1, dv=params.v_decay, vth=params.vth_mant,
                        bias_mant=b.astype(int), bias_exp=fx.ACT_SHIFT, name=name, **schedule)
    return LIFReset(shape=shape, du=params.i_decay / fx.DECAY_UNITY, dv=params.v_decay / fx.DECAY_UNITY,
                    vth=float(params.vth_mant), bias_mant=b.astype(float), name=name, **schedule)


def sigma_delta(shape, params, bias, reset_interval: int, reset_offset: int, fixed: bool, name: str | None = None):
    """A sigma-delta neuron (lava_msf.neurons.sdnn) as NetX builds it: Lava's
    Delta, SigmaDelta or Sigma, spike_exp = state_exp = 6. Stock Lava never
    resets their state: `stock_models` selects models that reset it on the
    LIFReset schedule, with Lava's arithmetic unchanged."""
    from lava.proc.sdn.process import Delta, Sigma, SigmaDelta

    from lava_msf.neurons import sdnn

    if not fixed:
        raise ValueError(f"{name}: sigma-delta neurons have no floating-point model here (use a fixed-point backend)")
    exps = {"spike_exp": sdnn.SPIKE_EXP, "state_exp": sdnn.STATE_EXP}
    if params.form == "delta":
        proc = Delta(shape=shape, vth=params.vth_mant, **exps)
    elif params.form == "sigma":
        proc = Sigma(shape=shape)
    else:
        b = np.zeros(shape) if bias is None else np.broadcast_to(np.asarray(bias), shape)
        proc = SigmaDelta(shape=shape, vth=params.vth_mant, bias=b.astype(np.int32), **exps)
    proc.name = name or proc.name
    proc.proc_params["reset_interval"] = int(reset_interval)
    proc.proc_params["reset_offset"] = int(reset_offset) % int(reset_interval)
    return proc


def resonate_and_fire(shape, params, reset_interval: int, reset_offset: int, fixed: bool, name: str | None = None):
    """A resonate-and-fire neuron (lava_msf.neurons.rf) as NetX builds it:
    Lava's RF (RF_PHASE) or RF_IZ from NetX's (period, alpha), state_exp 6,
    decay_bits 12. `stock_models` resets its state on the LIFReset schedule."""
    from lava.proc.rf.process import RF
    from lava.proc.rf_iz.process import RF_IZ

    from lava_msf.neurons import rf

    if not fixed:
        raise ValueError(f"{name}: resonate-and-fire neurons have no floating-point model here")
    period, alpha = rf.period_alpha(params)
    proc = (RF if params.form == "phase" else RF_IZ)(shape=shape, period=period, alpha=alpha, vth=params.vth_mant,
                                                     state_exp=rf.STATE_EXP, decay_bits=rf.DECAY_BITS, name=name)
    proc.proc_params["reset_interval"] = int(reset_interval)
    proc.proc_params["reset_offset"] = int(reset_offset) % int(reset_interval)
    return proc


def _resetting(base):
    """A subclass of stock model `base` (sigma-delta, resonate-and-fire) whose state is zeroed on the
    first step of each sample (LIFReset's rule), before Lava's own step."""

    class Resetting(base):
        def run_spk(self):
            p = self.proc_params
            if self.time_step % p["reset_interval"] == p["reset_offset"]:
                for var in ("sigma", "act", "residue", "error", "real", "imag"):
                    if hasattr(self, var):
                        getattr(self, var)[:] = 0
            super().run_spk()

    Resetting.__name__ = Resetting.__qualname__ = f"Resetting{base.__name__}"
    return Resetting


def _neuron(kind: str, shape: tuple, attention):
    from lava.proc.graded.process import GradedVec
    from lava.proc.lif.process import LIF
    from lava.proc.prodneuron.process import ProdNeuron

    if kind == "coincidence":
        return LIF(shape=shape, bias_mant=0, **COINCIDENCE)
    if kind == "attention":
        return attention(shape)
    if kind == "graded":
        return GradedVec(shape=shape, vth=0)
    return ProdNeuron(shape=shape, vth=0, exp=0)


def _synapse(weights: csr_matrix, delay: int, graded: bool):
    from lava.proc.sparse.process import DelaySparse, Sparse

    bits = GRADED_BITS if graded else 0
    if delay:
        return DelaySparse(weights=weights, delays=int(delay), num_message_bits=bits)
    return Sparse(weights=weights, num_message_bits=bits)


def stock_models():
    """Models of Lava's stock processes with their arithmetic unchanged (each
    subclasses Lava's fixed-point model), which the fixed-point backends select
    through the run config's exception map: DelaySparse building its
    delay-split weight matrix once instead of on every step (the weights are
    static here), and Delta, SigmaDelta, Sigma, RF and RF_IZ resetting their state."""
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
    from lava.proc.rf.models import PyRFModelFixed
    from lava.proc.rf.process import RF
    from lava.proc.rf_iz.models import PyRF_IZModelFixed
    from lava.proc.rf_iz.process import RF_IZ
    from lava.proc.sdn import models as sdn
    from lava.proc.sdn.process import Delta, Sigma, SigmaDelta
    from lava.proc.sparse.models import PyDelaySparseModelBitAcc
    from lava.proc.sparse.process import DelaySparse

    @implements(proc=DelaySparse, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class CachedDelaySparseModel(PyDelaySparseModelBitAcc):
        split = None

        def calc_act(self, s_in):
            if self.split is None:  # after the first step's weight clipping, as Lava's model does
                self.split = self.get_delay_wgts_mat(self.weights, self.delays, self.a_buff.shape[-1] - 1)
            return self.split.dot(s_in).reshape(self.a_buff.shape[-1], self.weights.shape[0]).T

    resetting = {proc: implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag("fixed_pt")(
        _resetting(base)))) for proc, base in ((Delta, sdn.PyDeltaModelFixed), (Sigma, sdn.PySigmaModelFixed),
                                               (SigmaDelta, sdn.PySigmaDeltaModelFixed),
                                               (RF, PyRFModelFixed), (RF_IZ, PyRF_IZModelFixed))}
    return {DelaySparse: CachedDelaySparseModel, **resetting}


def instantiate(model, proc, dec: Decomposition, out_port, attention=None) -> None:
    """Create `dec`'s populations and projections as children of SubProcessModel
    `model` (attributes, where Lava finds them) and wire them to the parent
    `proc`: its input ports (flattened) feed the first synapses or neurons, and
    `out_port` of the parent receives the output. `attention(shape)` makes the
    attention neuron."""
    out_shape = out_port.shape
    # A population fed by a parent port takes that port's shape: a flattening
    # virtual port between them loses all but one of several connections into
    # the parent port (Lava 0.10); the populations' own ports flatten instead.
    shapes = {pop: getattr(proc, port).shape for port, pop in dec.currents.items()}
    pops = {}
    for p in dec.populations:
        pops[p.name] = _neuron(p.kind, shapes.get(p.name, (p.size,)), attention)
        setattr(model, f"neuron_{p.name}", pops[p.name])
    for port, pop in dec.currents.items():
        getattr(proc, port).connect(pops[pop].a_in)
    for proj in dec.projections:
        if proj.src.startswith("in:"):
            src = getattr(proc, proj.src[3:]).flatten()
        else:
            src = pops[proj.src].s_out.flatten()
        rows, cols = proj.matrix_entries()
        shape = (dec.size(proj.dst, int(np.prod(out_shape))), src.size)
        weights = csr_matrix((np.full(len(rows), proj.weight, dtype=np.int32), (rows, cols)), shape=shape)
        syn = _synapse(weights, proj.delay, proj.graded)
        setattr(model, f"synapse_{proj.name}", syn)
        src.connect(syn.s_in)
        if proj.dst == OUTPUT:
            syn.a_out.reshape(out_shape).connect(out_port)
        else:
            dst = getattr(pops[proj.dst], proj.dst_port)
            syn.a_out.reshape(dst.shape).connect(dst)
    if dec.output != OUTPUT:
        pops[dec.output].s_out.reshape(out_shape).connect(out_port)
