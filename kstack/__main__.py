"""``python -m kstack``: the same program as the ``kstack`` command."""

import sys

from kstack.cli import main

sys.exit(main())
