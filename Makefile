# Set-up and tests are the README's two commands; these are shortcuts.
PY := .venv/bin/python

.PHONY: bench bench-quick
bench:  ## the performance suite: docs/performance.md + docs/results/performance.json
	$(PY) bench/performance.py

bench-quick:  ## msf_tiny only, fewer repeats, writes nothing
	$(PY) bench/performance.py --quick
