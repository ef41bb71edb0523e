"""``python -m kerasette``: the ``kerasette`` command (see `kerasette.cli`)."""

import sys

from kerasette.cli import main

sys.exit(main())
