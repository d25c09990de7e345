#!/usr/bin/env bash
# Creates .venv with a Python 3.10 interpreter (lava-nc/lava-dl need >=3.10,<3.11)
# and installs lava-msf with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
    if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
        command -v python3.10
        return
    fi
    if command -v pyenv >/dev/null 2>&1; then
        local root v
        root="$(pyenv root)"
        for v in $(ls -1 "$root/versions" 2>/dev/null | grep -E '^3\.10\.[0-9]+$' | sort -t. -k3 -n -r); do
            if "$root/versions/$v/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
                echo "$root/versions/$v/bin/python"
                return
            fi
        done
    fi
    return 1
}

PY="$(find_python310)" || { echo "setup: no working Python 3.10 found (tried python3.10 and pyenv versions 3.10.x)" >&2; exit 1; }
echo "setup: using $PY"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    rm -rf .venv
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
.venv/bin/python -c 'import lava, lava.lib.dl.slayer, torch, lava_msf; print("setup: ok, torch", torch.__version__)'
