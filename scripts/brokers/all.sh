#!/usr/bin/env bash
# Runs a command for all test brokers (RabbitMQ, Kafka/Tansu, SQS/moto).
# Usage: all.sh install|start|stop|restart|status|env [BROKER...]
#   BROKER is any of: rabbitmq kafka sqs (default: all three).
# install, start and stop run the brokers in parallel; stop always tries all
# of them and fails at the end if any failed.
set -euo pipefail

BROKER_NAME="all"
# shellcheck source=scripts/brokers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ALL_BROKERS=(rabbitmq kafka sqs)

# run_parallel CMD BROKER... -> runs `<broker>.sh CMD` for each broker at
# once, waits for every one, fails if any failed.
run_parallel() {
  local cmd="$1" name t0
  shift
  local -a names=("$@") pids=() failed=()
  t0="$(now_ms)"
  for name in "$@"; do
    "${BROKERS_SCRIPT_DIR}/${name}.sh" "${cmd}" &
    pids+=("$!")
  done
  local i
  for i in "${!pids[@]}"; do
    if ! wait "${pids[${i}]}"; then
      failed+=("${names[${i}]}")
    fi
  done
  if ((${#failed[@]} > 0)); then
    log "${cmd} FAILED for: ${failed[*]} (after $(($(now_ms) - t0)) ms)"
    return 1
  fi
  log "${cmd} done for: $* in $(($(now_ms) - t0)) ms"
}

# run_sequential CMD BROKER... -> runs each in turn, fails at the end if any failed.
run_sequential() {
  local cmd="$1" name rc=0
  shift
  for name in "$@"; do
    "${BROKERS_SCRIPT_DIR}/${name}.sh" "${cmd}" || rc=1
  done
  return "${rc}"
}

main() {
  local cmd="${1:-}"
  if [[ -z "${cmd}" ]]; then
    echo "usage: $0 install|start|stop|restart|status|env [rabbitmq|kafka|sqs ...]" >&2
    exit 2
  fi
  shift
  local -a brokers=("$@")
  if ((${#brokers[@]} == 0)); then
    brokers=("${ALL_BROKERS[@]}")
  fi
  local name
  for name in "${brokers[@]}"; do
    case "${name}" in
      rabbitmq | kafka | sqs) ;;
      *) die "unknown broker: ${name} (expected rabbitmq, kafka or sqs)" ;;
    esac
  done
  case "${cmd}" in
    # kafka and sqs pip-install into the same venv: common.sh serialises
    # that with a lock, so all three can still be launched at once.
    install | start | stop) run_parallel "${cmd}" "${brokers[@]}" ;;
    restart)
      run_parallel stop "${brokers[@]}" || true
      run_parallel start "${brokers[@]}"
      ;;
    status | env) run_sequential "${cmd}" "${brokers[@]}" ;;
    *)
      echo "unknown command: ${cmd}" >&2
      echo "usage: $0 install|start|stop|restart|status|env [rabbitmq|kafka|sqs ...]" >&2
      exit 2
      ;;
  esac
}

main "$@"
