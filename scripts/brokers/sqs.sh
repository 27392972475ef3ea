#!/usr/bin/env bash
# SQS for tests: moto in server mode (PyPI moto[server], run from the project
# virtualenv) on 127.0.0.1:${BROADWAY_SQS_PORT:-35000}. State is in memory.
# Usage: sqs.sh install|start|stop|restart|status|env
set -euo pipefail

BROKER_NAME="sqs"
# shellcheck source=scripts/brokers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SQS_PORT="${BROADWAY_SQS_PORT:-35000}"
SQS_START_TIMEOUT="${BROADWAY_SQS_START_TIMEOUT:-60}"
MOTO_SPEC="${BROADWAY_MOTO_SPEC:-moto[server]==5.2.5}"

SQS_DIR="${BROKERS_DIR}/sqs"
SQS_PIDFILE="${SQS_DIR}/sqs.pid"
SQS_LOG="${SQS_DIR}/sqs.log"
SQS_PATTERN="moto_server"

moto_bin() {
  printf '%s\n' "${VENV}/bin/moto_server"
}

moto_installed() {
  [[ -x "$(moto_bin)" ]] || return 1
  # moto_server needs the [server] extra (flask, flask-cors).
  "$(venv_python)" -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1
}

cmd_install() {
  if moto_installed; then
    log "moto_server already installed: $(moto_bin)"
    return 0
  fi
  pip_install "${MOTO_SPEC}"
  moto_installed || die "moto_server not usable in ${VENV} after install"
  log "installed moto_server: $(moto_bin)"
}

sqs_ready() {
  http_ok "${SQS_PORT}" /moto-api/
}

cmd_status() {
  local pid
  if pid="$(pidfile_live "${SQS_PIDFILE}" "${SQS_PATTERN}")"; then
    if sqs_ready; then
      echo "sqs: running (pid ${pid}) on ${BROKER_HOST}:${SQS_PORT}"
      return 0
    fi
    echo "sqs: process ${pid} alive but http://${BROKER_HOST}:${SQS_PORT}/moto-api/ not answering"
    return 1
  fi
  echo "sqs: stopped"
  return 3
}

cmd_start() {
  take_lock "${SQS_DIR}/.lock"
  local pid t0
  if pid="$(pidfile_live "${SQS_PIDFILE}" "${SQS_PATTERN}")"; then
    if sqs_ready; then
      log "already running (pid ${pid}) on ${BROKER_HOST}:${SQS_PORT}"
      return 0
    fi
    log "pid ${pid} alive but not answering; restarting it"
    cmd_stop
  fi
  if port_open "${SQS_PORT}"; then
    die "port ${BROKER_HOST}:${SQS_PORT} is already in use by a process this script did not start (set BROADWAY_SQS_PORT)"
  fi
  [[ -x "$(moto_bin)" ]] || die "moto_server not installed; run: $0 install"
  mkdir -p "${SQS_DIR}"
  t0="$(now_ms)"
  rotate_log "${SQS_LOG}"
  printf '=== %s starting moto_server on %s:%s\n' "$(date -Is)" "${BROKER_HOST}" "${SQS_PORT}" >>"${SQS_LOG}"
  # PYTHONUNBUFFERED so the log is useful if it fails to start.
  spawn_detached "${SQS_LOG}" env PYTHONUNBUFFERED=1 \
    "$(moto_bin)" -H "${BROKER_HOST}" -p "${SQS_PORT}"
  pid="${SPAWNED_PID}"
  printf '%s\n' "${pid}" >"${SQS_PIDFILE}"
  if ! wait_until "${SQS_START_TIMEOUT}" "${pid}" sqs_ready; then
    show_log_tail "${SQS_LOG}"
    terminate_pid "${pid}" 5 || true
    rm -f "${SQS_PIDFILE}"
    die "moto_server did not come up on ${BROKER_HOST}:${SQS_PORT}"
  fi
  log "started (pid ${pid}) on ${BROKER_HOST}:${SQS_PORT} in $(($(now_ms) - t0)) ms"
}

cmd_stop() {
  take_lock "${SQS_DIR}/.lock"
  local pid
  if pid="$(pidfile_live "${SQS_PIDFILE}" "${SQS_PATTERN}")"; then
    log "stopping pid ${pid}"
    terminate_pid "${pid}" 15 || die "could not stop pid ${pid}"
    log "stopped"
  else
    log "not running"
  fi
  rm -f "${SQS_PIDFILE}"
}

cmd_restart() {
  take_lock "${SQS_DIR}/.lock"
  cmd_stop
  cmd_start
}

cmd_env() {
  printf 'export BROADWAY_SQS_ENDPOINT=http://%s:%s\n' "${BROKER_HOST}" "${SQS_PORT}"
  printf 'export AWS_ACCESS_KEY_ID=testing\n'
  printf 'export AWS_SECRET_ACCESS_KEY=testing\n'
  printf 'export AWS_DEFAULT_REGION=us-east-1\n'
}

dispatch "$0 install|start|stop|restart|status|env" "$@"
