"""`python -m grace_lab.sim`: serve the simulated shop's metrics until interrupted."""

from __future__ import annotations

import sys

from grace_lab.sim.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
