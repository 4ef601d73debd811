"""`python -m bench [name ...]`: run the named benchmarks (default: all)."""

import importlib
import sys
import time

ALL = ["storage", "simulator", "kpi", "sweep", "history", "instance", "dashboard", "backfill"]
ON_REQUEST = ["make_run"]  # installs everything from a fresh clone: minutes, run by name only

if __name__ == "__main__":
    names = sys.argv[1:] or ALL
    for name in names:
        if name not in ALL + ON_REQUEST:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(ALL + ON_REQUEST)}")
    for name in names:
        print(f"\n######## bench {name} ########")
        t0 = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"(bench {name} took {time.perf_counter() - t0:.0f} s)")
