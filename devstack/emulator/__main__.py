"""`python -m devstack.emulator --host 127.0.0.1 --port 0` (see docs/emulator.md)."""

import sys

from devstack.emulator.server import main

sys.exit(main())
