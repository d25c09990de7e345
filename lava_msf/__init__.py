"""lava-msf: Meta-SpikeFormer (Spike-driven Transformer V2) on lava-dl and Lava.

Pipeline, imports flowing one way:
  fixedpoint (numpy: neuron semantics) -> model, train (torch) -> export -> runtime (Lava, numpy only).
The top-level package imports no torch, so the Lava side stays torch-free; the
model-zoo functions below load torch on first use.
"""

__version__ = "0.1.0"

_LAZY = {"create_model": "lava_msf.model.registry", "list_models": "lava_msf.model.registry",
         "import_official": "lava_msf.model.official"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lava_msf' has no attribute {name!r}")


__all__ = ["create_model", "list_models", "import_official", "__version__"]
