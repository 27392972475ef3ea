#!/usr/bin/env bash
# `make test`: lint, start the brokers on 127.0.0.1, run every test, run the
# benchmarks as a short smoke, and stop the brokers whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV

section() { printf '\n==> %s\n' "$*"; }

section "lint"
make --no-print-directory lint

section "tools for the deploy checks"
scripts/install-tools.sh

section "image: build it (podman) for the image tests (tests/deploy/test_image.py, test_chart_pod.py)"
# Exit 77: containers cannot run on this host; the image tests then skip, saying why.
image_rc=0
scripts/image-test.sh build || image_rc=$?
if ((image_rc != 0 && image_rc != 77)); then
  exit "${image_rc}"
fi

section "brokers"
scripts/brokers/all.sh install
trap 'section "stopping brokers"; scripts/brokers/all.sh stop || true' EXIT
scripts/brokers/all.sh start
eval "$(scripts/brokers/all.sh env)"

section "tests"
"$VENV/bin/python" -m pytest

section "benchmark smoke (ratios are only measured by make bench)"
scripts/bench.sh --smoke --brokers-running
