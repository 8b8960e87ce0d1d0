"""``python -m kreislauf`` runs the command-line program."""

import sys

from kreislauf.cli import main

sys.exit(main())
