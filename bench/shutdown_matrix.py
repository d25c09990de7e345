"""The whole shutdown matrix of tests/test_shutdown.py: SIGINT and SIGTERM to
the CLI's process group, each while Lava forks and mid-run (the suite runs one
phase per signal). Exits with pytest's status: nonzero when any case fails.

    .venv/bin/python bench/shutdown_matrix.py [pytest options]
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    env = {**os.environ, "LAVA_MSF_SHUTDOWN_MATRIX": "full"}
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "tests/test_shutdown.py", *sys.argv[1:]], cwd=REPO, env=env))
