#!/usr/bin/env bash
# `make bench`: every benchmark prints its rates and the ratio against a
# baseline measured in the same command. --smoke: a few seconds each, for CI.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV
smoke=()
brokers_running=false
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=(--smoke) ;;
    --brokers-running) brokers_running=true ;;
    *) echo "usage: $0 [--smoke] [--brokers-running]" >&2; exit 2 ;;
  esac
done
if ! $brokers_running; then
  scripts/brokers/all.sh install
  trap 'scripts/brokers/all.sh stop || true' EXIT
  scripts/brokers/all.sh start
  eval "$(scripts/brokers/all.sh env)"
fi
# Each line: a benchmark module and its arguments (the shapes users run).
runs=(
  "memory_throughput"
  "memory_rss"
  "model_decode"
  "kafka_throughput --partitions 1"
  "kafka_throughput --partitions 4"
  "kafka_throughput --partitions 1 --json"
  "rabbitmq_throughput"
  "rabbitmq_throughput --json"
  "sqs_throughput"
  "slow_handler"
  "event_loops"
  "process_executor"
  "workers"
)
for run in "${runs[@]}"; do
  read -r -a words <<<"$run"
  printf '\n--- %s\n' "$run"
  "$VENV/bin/python" -m "bench.${words[0]}" "${words[@]:1}" "${smoke[@]}"
done
