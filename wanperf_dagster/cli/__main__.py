"""`python -m wanperf_dagster.cli`: the `wanperf` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
