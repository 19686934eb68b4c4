"""Local stand-in for the Azure OpenAI (and OpenAI) image generation API. Dev/test only.

`create_app(config)` builds the aiohttp application in-process; `python -m devstack.emulator`
serves it (see docs/emulator.md). `devstack.emulator.images.render` computes the exact bytes of
any generated image the emulator returns, `render_edit` those of an edit, and `read_meta` reads
which inputs an edited image was made from.
"""

from devstack.emulator.app import create_app
from devstack.emulator.config import EmulatorConfig, apply_patch
from devstack.emulator.edits import read_meta, render_edit
from devstack.emulator.images import render

__all__ = ["EmulatorConfig", "apply_patch", "create_app", "read_meta", "render", "render_edit"]
