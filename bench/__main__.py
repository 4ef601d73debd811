"""`python -m bench [name ...]`: run the named benchmarks (default: all).
`python -m bench NAME --option ...`: one benchmark with its own options (`backfill --help`)."""

import importlib
import sys
import time

ALL = [
    "storage",
    "simulator",
    "kpi",
    "sweep",
    "history",
    "instance",
    "dashboard",
    "status",
    "automation",
    "backfill",
    "sla",
    "alerts",
    "soak",
]
ON_REQUEST = [
    "make_run",
    "chunk",
]  # run by name only: make_run installs from a fresh clone (minutes); chunk compares a revision (--ref)

if __name__ == "__main__":
    args = sys.argv[1:]
    split = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
    names, options = args[:split] or ALL, args[split:]
    if options and len(names) != 1:
        sys.exit("options go with one benchmark: python -m bench NAME --option ...")
    for name in names:
        if name not in ALL + ON_REQUEST:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(ALL + ON_REQUEST)}")
    for name in names:
        print(f"\n######## bench {name} ########")
        t0 = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        module.main(options) if options else module.main()
        print(f"(bench {name} took {time.perf_counter() - t0:.0f} s)")
