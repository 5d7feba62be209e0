"""``models.config`` for TF Serving's ``--model_config_file`` (no TensorFlow import).

One config entry per model name under the same base: exporting a second
``--name`` adds its entry and keeps the others (the file used to be rewritten
with the last model only).  The paths are those of the README's docker
command, which mounts the base at ``/models``.
"""

from __future__ import annotations

import re
from pathlib import Path

from wtal_tf import io_utils
from wtal_tf.errors import WtalError

ENTRY = """  config {{
    name: "{name}"
    base_path: "/models/{name}"
    model_platform: "tensorflow"
  }}
"""
_NAME = re.compile(r'\bname:\s*"([^"]*)"')


def model_names(path) -> list[str]:
    """Names configured in an existing ``models.config``; fails on a file this
    module cannot extend (so that nothing is written over it)."""
    path = Path(path)
    if path.is_dir():
        raise WtalError("is a directory, not a TF Serving model config file", path=path)
    if not path.exists():
        return []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise WtalError(f"cannot read ({e}); fix or remove it", path=path) from None
    body = text.strip()
    if body and not (body.startswith("model_config_list") and body.endswith("}")):
        raise WtalError("is not a 'model_config_list { ... }' text proto; fix or remove it "
                        "(it is extended, never replaced)", path=path)
    return _NAME.findall(text)


def merge_models_config(path, name: str) -> Path:
    """Adds ``name`` to ``path`` (creating it), keeping every other entry."""
    path = Path(path)
    names = model_names(path)
    if name in names:
        return path
    entry = ENTRY.format(name=name)
    body = path.read_text().strip() if path.exists() else ""
    if body:
        text = body[:-1].rstrip() + "\n" + entry + "}\n"
    else:
        text = "model_config_list {\n" + entry + "}\n"
    io_utils.write_text(path, text)
    return path
