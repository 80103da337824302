#!/usr/bin/env bash
# Set up (scripts/setup.sh), then three phases; each runs whatever the others gave, and each
# result is reported at the end:
#   1. the test suite on spikingjelly 2.0.0 (extra arguments go to this pytest);
#   2. the SpikingJelly adapter tests again on spikingjelly 0.0.0.0.14;
#   3. the wheel, installed into a fresh virtual environment, runs the main job (check_wheel.sh).
# The exit code is non-zero if any phase failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "set-up failed"; exit 1; }
results=()
failed=0
phase() {
  local name=$1 start=$SECONDS rc
  shift
  echo "== $name"
  "$@"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    results+=("passed  $name ($((SECONDS - start)) s)")
  else
    results+=("FAILED  $name (exit code $rc, $((SECONDS - start)) s)")
    failed=1
  fi
}
phase "test suite (spikingjelly 2.0.0)" .venv/bin/python -m pytest -q "$@"
phase "SpikingJelly adapter tests on spikingjelly 0.0.0.0.14" \
  env PYTHONPATH=.deps/spikingjelly-0.0.0.0.14 .venv/bin/python -m pytest -q tests/adapters/test_spikingjelly.py
phase "wheel in a fresh venv runs the main job" bash scripts/check_wheel.sh
echo "== results"
printf '%s\n' "${results[@]}"
exit "$failed"
