"""the local exchange simulator: `python sim_exchange.py --help` (the code is in aster_mm.simulator.cli)."""

from aster_mm.simulator.cli import main

if __name__ == "__main__":
    main()
