"""Makes the Python test components of this folder importable as ``cosim_doubles``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
