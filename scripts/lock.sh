#!/usr/bin/env bash
# Regenerates the container image's lock files from pyproject.toml, with hashes:
#
#   requirements.lock        the runtime dependencies + every connector extra, uvloop and otel
#                            (kafka, rabbitmq, sqs): what the image installs
#   requirements-build.lock  the build backend (hatchling) that turns the
#                            source into a wheel in the image's build stage
#
# Both are resolved for CPython 3.11 on Linux, the image's interpreter, so run
# this with a Python 3.11 (PYTHON=/path/to/python3.11 to choose one).
# pip-tools runs from a venv of its own under .tools/, never the project venv.
# Upgrade everything: scripts/lock.sh --upgrade; one package:
# scripts/lock.sh --upgrade-package aiohttp
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIP_TOOLS_VERSION="7.6.2"
PYTHON="${PYTHON:-python3.11}"
command -v "${PYTHON}" >/dev/null 2>&1 || PYTHON=python3
"${PYTHON}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
  {
    echo "lock.sh: needs Python 3.11 (the image's); set PYTHON=" >&2
    exit 1
  }

LOCK_VENV="${REPO}/.tools/lock-venv"
if [[ "$("${LOCK_VENV}/bin/pip-compile" --version 2>/dev/null || true)" != *"${PIP_TOOLS_VERSION}"* ]]; then
  rm -rf "${LOCK_VENV}"
  "${PYTHON}" -m venv "${LOCK_VENV}"
  "${LOCK_VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "pip-tools==${PIP_TOOLS_VERSION}"
fi

cd "${REPO}"
common=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url
  --no-emit-find-links --newline=lf "$@")
export CUSTOM_COMPILE_COMMAND="scripts/lock.sh"
"${LOCK_VENV}/bin/pip-compile" "${common[@]}" \
  --extra kafka --extra rabbitmq --extra sqs --extra fast --extra otel \
  --output-file requirements.lock pyproject.toml
"${LOCK_VENV}/bin/pip-compile" "${common[@]}" \
  --only-build-deps --build-deps-for wheel \
  --output-file requirements-build.lock pyproject.toml
echo "lock.sh: wrote requirements.lock and requirements-build.lock" >&2
