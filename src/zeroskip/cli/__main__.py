"""``python -m zeroskip.cli`` runs the command line."""

import sys

from zeroskip.cli import main

sys.exit(main())
