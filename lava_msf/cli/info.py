"""`models` and `backends`: what is available."""

from ..errors import LavaMsfError
from .options import add_command, add_json, print_result


def handle_models(ns) -> int:
    """The model registry."""
    from ..model import list_models, model_config

    configs = {name: model_config(name) for name in list_models()}
    text = "\n".join(f"{n:13s} {c['task']:8s} embed_dim={c['embed_dim']} depths={c['depths']} heads={c['heads']} "
                     f"img_size={c['img_size']} in_channels={c['in_channels']} classes={c['num_classes']}"
                     for n, c in configs.items())
    print_result(configs, ns.json, text)
    return 0


def handle_backends(ns) -> int:
    """The execution backends and what each selects."""
    from ..runtime.backends import BACKENDS

    rows = {}
    for b in BACKENDS.values():
        try:
            b.check_available()
            available = True
        except LavaMsfError:
            available = False
        rows[b.name] = {"select_tag": b.select_tag, "decomposed": b.decomposed, "hardware": b.hardware,
                        "available": available, "description": b.description}
    text = "\n".join(f"{n:20s} {'available' if r['available'] else 'unavailable':11s} {r['description']}"
                     for n, r in rows.items())
    print_result(rows, ns.json, text)
    return 0


def register(sub) -> None:
    add_json(add_command(sub, "models", handle_models, "list the model registry"))
    add_json(add_command(sub, "backends", handle_backends, "list the execution backends and what each selects"))
