# Sourced by scripts/test and scripts/demo: cd to the project, make .venv when it is
# missing and (re)install the project when its metadata changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "$(basename "$0"): Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 2; }
  "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,metrics]'
  touch .venv/.installed
fi
