"""The execution backends, listed in one place: what each one selects."""

import importlib.util
from dataclasses import dataclass

from ..errors import ConfigError

LAVA_LOIHI_MODULE = "lava.magma.core.model.nc.model"  # ships with lava-loihi, not with public lava-nc


class BackendUnavailable(ConfigError):
    """A backend needs software this machine does not have."""


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    select_tag: str | None  # Lava process-model tag; None: not a Lava run
    decomposed: bool = False  # SDSA and merge as SubProcessModels of stock chip processes
    hardware: bool = False  # Loihi2HwCfg (lava-loihi) instead of Loihi2SimCfg
    fused: bool = False  # the whole network as one process (FusedNetwork)

    @property
    def lava(self) -> bool:
        return self.select_tag is not None

    def check_available(self) -> None:
        if self.hardware and importlib.util.find_spec(LAVA_LOIHI_MODULE.rsplit(".", 1)[0]) is None:
            raise BackendUnavailable(
                f"backend {self.name!r} needs Intel's lava-loihi extension ({LAVA_LOIHI_MODULE}), which is not "
                f"installed; it is distributed to Intel Neuromorphic Research Community members, not on PyPI. "
                f"'--backend lava-cpu-decomposed' runs the same chip-mappable graph on the CPU simulator")

    def run_config(self):
        """The Lava run configuration this backend selects."""
        self.check_available()
        from lava.magma.core import run_configs

        if self.hardware:
            return run_configs.Loihi2HwCfg(select_tag=self.select_tag, select_sub_proc_model=self.decomposed)
        from .proc.stock import stock_models

        return run_configs.Loihi2SimCfg(select_tag=self.select_tag, select_sub_proc_model=self.decomposed,
                                        exception_proc_model_map=stock_models() if self.select_tag == "fixed_pt"
                                        else None)


BACKENDS = {b.name: b for b in (
    Backend("lava-cpu", "Lava CPU simulator (Loihi2SimCfg), fixed-point process models: "
            "bit-exact with the reference executor", "fixed_pt"),
    Backend("lava-cpu-float", "Lava CPU simulator, floating-point process models: the same network "
            "in real arithmetic (no rounding or saturation)", "floating_pt"),
    Backend("lava-cpu-fused", "Lava CPU simulator, the whole network as one process running the reference "
            "executor's step (no per-layer processes or hop delays): bit-exact with lava-cpu, for speed",
            "fixed_pt", fused=True),
    Backend("lava-cpu-decomposed", "Lava CPU simulator, fixed point, SDSA and merge decomposed into Lava's "
            "stock chip-supported processes (docs/loihi-mapping.md): bit-exact with lava-cpu", "fixed_pt",
            decomposed=True),
    Backend("loihi2", "Loihi 2 through Lava's hardware run config (Loihi2HwCfg), the decomposed graph; "
            "needs lava-loihi", "fixed_pt", decomposed=True, hardware=True),
    Backend("reference", "lava-msf's numpy reference executor (one process, no Lava)", None),
)}


def get_backend(name: str) -> Backend:
    """The backend called `name`, checked to be usable here."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    backend = BACKENDS[name]
    backend.check_available()
    return backend
