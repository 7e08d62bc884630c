"""``python -m mflab`` runs the ``mflab`` command line."""

import sys

from mflab.cli import main

sys.exit(main())
