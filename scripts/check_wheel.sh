#!/usr/bin/env bash
# What a plain `pip install .` gives: build the wheel from the working tree, install it into a
# fresh virtual environment (no editable paths, the source tree not on the path), run the main
# job `spikessm` from it in an empty folder and check the report: every figure written and shown
# in summary.md. The wheel must also hold every non-Python file of the package (its data).
#   PYTHON, TORCH_SPEC, VENV_ARGS  as for scripts/setup.sh (the fresh venv gets the pinned torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The files git would commit (tracked or new, not ignored), so nothing of a local build leaks in.
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C "$work/src"
.venv/bin/python -m pip wheel --disable-pip-version-check -q --no-deps -w "$work/dist" "$work/src"

"$PYTHON" -m venv ${VENV_ARGS:-} "$work/venv"
pip() { "$work/venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }
"$work/venv/bin/python" -c "import torch" 2>/dev/null || pip install "$TORCH_SPEC"
pip install "$work"/dist/*.whl

mkdir "$work/run"
cd "$work/run"
unset PYTHONPATH
start=$SECONDS
if ! "$work/venv/bin/spikessm" > main-job.log 2>&1; then
  echo "the main job failed from the installed wheel:"; tail -30 main-job.log; exit 1
fi
echo "main job from the wheel: $((SECONDS - start)) s"
"$work/venv/bin/python" - "$work" <<'EOF'
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import spikessm_snn

work = Path(sys.argv[1])
package = Path(spikessm_snn.__file__).parent
assert package.is_relative_to(work / "venv"), f"spikessm_snn imported from {package}, not the fresh venv"
editable = subprocess.run([sys.executable, "-m", "pip", "list", "--editable", "--format=freeze"],
                          capture_output=True, text=True, check=True).stdout.strip()
assert not editable, f"editable installs in the fresh venv: {editable}"

source = work / "src" / "spikessm_snn"
wheel = zipfile.ZipFile(next((work / "dist").glob("*.whl")))
data = sorted(str(p.relative_to(source.parent)) for p in source.rglob("*") if p.is_file() and p.suffix != ".py")
missing = [name for name in data if name not in wheel.namelist()]
assert not missing, f"files of the package missing from the wheel (package-data in pyproject.toml): {missing}"

report = Path("spikessm-report")
summary = (report / "summary.md").read_text()
expected = ["neuron_dynamics.png", "raster.png", "neuron_comparison.png", "fi_curves.png", "layer_spike_rates.png"]
shown = re.findall(r"!\[[^]]*\]\(([^)]+)\)", summary)
assert sorted(shown) == sorted(expected), f"summary.md shows {shown}, expected {expected}"
for name in expected:
    size = (report / name).stat().st_size
    assert size > 5000, f"{name}: {size} bytes"
print(f"wheel OK: {len(data)} data files in it; report {sorted(p.name for p in report.iterdir())}")
EOF
