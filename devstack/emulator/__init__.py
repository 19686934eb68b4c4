"""Local stand-in for the Azure OpenAI (and OpenAI) image generation API. Dev/test only.

`create_app(config)` builds the aiohttp application in-process; `python -m devstack.emulator`
serves it (see docs/emulator.md). `devstack.emulator.images.render` computes the exact bytes of
any image the emulator returns.
"""

from devstack.emulator.app import create_app
from devstack.emulator.config import EmulatorConfig, apply_patch
from devstack.emulator.images import render

__all__ = ["EmulatorConfig", "apply_patch", "create_app", "render"]
