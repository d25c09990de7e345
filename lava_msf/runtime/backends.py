"""The execution backends, listed in one place: what each one selects."""

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    select_tag: str | None  # Lava process-model tag; None: not a Lava run

    @property
    def lava(self) -> bool:
        return self.select_tag is not None


BACKENDS = {b.name: b for b in (
    Backend("lava-cpu", "Lava CPU simulator (Loihi2SimCfg), fixed-point process models: "
            "bit-exact with the reference executor", "fixed_pt"),
    Backend("lava-cpu-float", "Lava CPU simulator, floating-point process models: the same network "
            "in real arithmetic (no rounding or saturation)", "floating_pt"),
    Backend("reference", "lava-msf's numpy reference executor (one process, no Lava)", None),
)}


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name]
