#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the test suite: everything on spikingjelly 2.0.0, then the
# SpikingJelly adapter tests again on 0.0.0.0.14. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
echo "== SpikingJelly adapter tests on spikingjelly 0.0.0.0.14"
PYTHONPATH=.deps/spikingjelly-0.0.0.0.14 .venv/bin/python -m pytest -q tests/adapters/test_spikingjelly.py
