#!/usr/bin/env bash
# RabbitMQ for tests: a private, loopback-only node run as the current user
# (not the Debian service), with its own HOME/cookie, data, logs and epmd.
#   AMQP        127.0.0.1:${BROADWAY_RABBITMQ_PORT:-35672}
#   Erlang dist 127.0.0.1:${BROADWAY_RABBITMQ_DIST_PORT:-35673}
#   epmd        127.0.0.1:${BROADWAY_RABBITMQ_EPMD_PORT:-35674}
#   CLI (rabbitmqctl) dist ports ${BROADWAY_RABBITMQ_CTL_PORT_MIN:-35675}..+10
# Usage: rabbitmq.sh install|start|stop|restart|status|env|ctl ARGS...
set -euo pipefail

BROKER_NAME="rabbitmq"
# shellcheck source=scripts/brokers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RMQ_PORT="${BROADWAY_RABBITMQ_PORT:-35672}"
RMQ_DIST_PORT="${BROADWAY_RABBITMQ_DIST_PORT:-35673}"
RMQ_EPMD_PORT="${BROADWAY_RABBITMQ_EPMD_PORT:-35674}"
# The CLI's own Erlang node listens on a port in this range while it runs.
# RabbitMQ's default range (35672-35682) would collide with our AMQP port.
RMQ_CTL_PORT_MIN="${BROADWAY_RABBITMQ_CTL_PORT_MIN:-35675}"
RMQ_CTL_PORT_MAX="${BROADWAY_RABBITMQ_CTL_PORT_MAX:-$((RMQ_CTL_PORT_MIN + 10))}"
RMQ_NODENAME="${BROADWAY_RABBITMQ_NODENAME:-broadway@localhost}"
RMQ_START_TIMEOUT="${BROADWAY_RABBITMQ_START_TIMEOUT:-120}"
RMQ_STOP_TIMEOUT="${BROADWAY_RABBITMQ_STOP_TIMEOUT:-60}"

RMQ_DIR="${BROKERS_DIR}/rabbitmq"
RMQ_PIDFILE="${RMQ_DIR}/rabbitmq.pid"   # the rabbitmq-server wrapper (sh)
RMQ_BEAM_PIDFILE="${RMQ_DIR}/beam.pid"  # written by the Erlang VM itself
RMQ_EPMD_PIDFILE="${RMQ_DIR}/epmd.pid"  # our private epmd
RMQ_LOG="${RMQ_DIR}/rabbitmq.log"
RMQ_EPMD_LOG="${RMQ_DIR}/epmd.log"

rmq_sbin() {
  local dir best=""
  for dir in /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin; do
    [[ -x "${dir}/rabbitmq-server" ]] && best="${dir}"
  done
  [[ -n "${best}" ]] || return 1
  printf '%s\n' "${best}"
}

epmd_bin() {
  command -v epmd 2>/dev/null || {
    local candidate
    for candidate in /usr/lib/erlang/bin/epmd /usr/lib/erlang/erts-*/bin/epmd; do
      [[ -x "${candidate}" ]] && printf '%s\n' "${candidate}" && return 0
    done
    return 1
  }
}

cmd_install() {
  apt_install_missing rabbitmq-server
  rmq_sbin >/dev/null || die "rabbitmq-server scripts not found under /usr/lib/rabbitmq/lib"
  log "rabbitmq-server scripts: $(rmq_sbin)"
}

# Exports the environment shared by the server, rabbitmqctl and epmd.
rmq_export_env() {
  export HOME="${RMQ_DIR}/home"
  export RABBITMQ_NODENAME="${RMQ_NODENAME}"
  export RABBITMQ_NODE_IP_ADDRESS="${BROKER_HOST}"
  export RABBITMQ_NODE_PORT="${RMQ_PORT}"
  export RABBITMQ_DIST_PORT="${RMQ_DIST_PORT}"
  export ERL_EPMD_ADDRESS="${BROKER_HOST}"
  export ERL_EPMD_PORT="${RMQ_EPMD_PORT}"
  export RABBITMQ_CTL_DIST_PORT_MIN="${RMQ_CTL_PORT_MIN}"
  export RABBITMQ_CTL_DIST_PORT_MAX="${RMQ_CTL_PORT_MAX}"
  # The CLI node: loopback only, and never start an epmd of its own (ours
  # is started and stopped by this script, by pid).
  export RABBITMQ_CTL_ERL_ARGS="-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-start_epmd false"
  # Every erl started with this environment, including the helper VM that
  # rabbitmqctl spawns to "ensure epmd", must not start a stray epmd either.
  case " ${ERL_AFLAGS:-} " in
    *" -start_epmd false "*) ;;
    *) export ERL_AFLAGS="${ERL_AFLAGS:+${ERL_AFLAGS} }-start_epmd false" ;;
  esac
  export RABBITMQ_CONF_ENV_FILE="${RMQ_DIR}/rabbitmq-env.conf"
  export RABBITMQ_CONFIG_FILE="${RMQ_DIR}/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="${RMQ_DIR}/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="${RMQ_DIR}/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="${RMQ_DIR}/mnesia"
  export RABBITMQ_LOG_BASE="${RMQ_DIR}/log"
  export RABBITMQ_PID_FILE="${RMQ_BEAM_PIDFILE}"
  export RABBITMQ_LOGS="-"
  unset RABBITMQ_ALLOW_INPUT NOTIFY_SOCKET
}

rmq_write_config() {
  mkdir -p "${RMQ_DIR}/home" "${RMQ_DIR}/mnesia" "${RMQ_DIR}/log"
  : >"${RMQ_DIR}/rabbitmq-env.conf"
  cat >"${RMQ_DIR}/rabbitmq.conf" <<EOF
listeners.tcp.default = ${BROKER_HOST}:${RMQ_PORT}
loopback_users.guest = true
EOF
  cat >"${RMQ_DIR}/advanced.config" <<'EOF'
[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}].
EOF
  printf '[].\n' >"${RMQ_DIR}/enabled_plugins"
  # Create the cookie up front so the server and the CLI never race to.
  if [[ ! -s "${RMQ_DIR}/home/.erlang.cookie" ]]; then
    (
      umask 077
      head -c 20 /dev/urandom | od -An -tx1 | tr -dc '0-9a-f' | tr '0-9a-f' 'A-P' \
        >"${RMQ_DIR}/home/.erlang.cookie"
    )
  fi
  chmod 400 "${RMQ_DIR}/home/.erlang.cookie"
}

# ctl_run ARGS... -> rabbitmqctl against the private node.
ctl_run() {
  local sbin
  sbin="$(rmq_sbin)" || die "rabbitmq-server not installed; run: $0 install"
  (
    rmq_export_env
    exec "${sbin}/rabbitmqctl" "$@"
  )
}

rmq_ready() {
  port_open "${RMQ_PORT}"
}

server_pid() {
  pidfile_live "${RMQ_PIDFILE}" "rabbitmq-server" 2>/dev/null
}

beam_pid() {
  pidfile_live "${RMQ_BEAM_PIDFILE}" "beam" 2>/dev/null
}

# node_pid -> the wrapper's pid, or the VM's if the wrapper is gone.
node_pid() {
  server_pid || beam_pid
}

epmd_pid() {
  pidfile_live "${RMQ_EPMD_PIDFILE}" "epmd" 2>/dev/null
}

cmd_status() {
  local pid beam=""
  if pid="$(node_pid)"; then
    beam="$(beam_pid || true)"
    if rmq_ready; then
      echo "rabbitmq: running (pid ${pid}${beam:+, beam ${beam}}) on ${BROKER_HOST}:${RMQ_PORT}"
      return 0
    fi
    echo "rabbitmq: process ${pid} alive but ${BROKER_HOST}:${RMQ_PORT} not answering (booting, or app stopped)"
    return 1
  fi
  echo "rabbitmq: stopped"
  return 3
}

# Asks epmd itself (a bare TCP probe makes it log "partial packet").
epmd_ready() {
  "$(epmd_bin)" -port "${RMQ_EPMD_PORT}" -names >/dev/null 2>&1
}

start_epmd() {
  local pid bin
  if pid="$(epmd_pid)"; then
    log "private epmd already running (pid ${pid})"
    return 0
  fi
  if port_open "${RMQ_EPMD_PORT}"; then
    die "epmd port ${BROKER_HOST}:${RMQ_EPMD_PORT} is in use by a process this script did not start (set BROADWAY_RABBITMQ_EPMD_PORT)"
  fi
  bin="$(epmd_bin)" || die "epmd not found; run: $0 install"
  rotate_log "${RMQ_EPMD_LOG}"
  spawn_detached "${RMQ_EPMD_LOG}" "${bin}" -address "${BROKER_HOST}" -port "${RMQ_EPMD_PORT}"
  pid="${SPAWNED_PID}"
  printf '%s\n' "${pid}" >"${RMQ_EPMD_PIDFILE}"
  if ! wait_until 15 "${pid}" epmd_ready; then
    show_log_tail "${RMQ_EPMD_LOG}"
    terminate_pid "${pid}" 5 || true
    rm -f "${RMQ_EPMD_PIDFILE}"
    die "private epmd did not come up on ${BROKER_HOST}:${RMQ_EPMD_PORT}"
  fi
}

# Stops whatever of ours is left: node (gracefully if possible), wrapper,
# VM and epmd. Keeps the data directory.
stop_all() {
  local pid beam epmd
  pid="$(server_pid || true)"
  beam="$(beam_pid || true)"
  if [[ -n "${pid}" || -n "${beam}" ]]; then
    log "stopping node ${RMQ_NODENAME} (pid ${pid:-none}, beam ${beam:-none})"
    # `shutdown` stops the node and waits for its OS process to exit.
    if ! (
      rmq_export_env
      exec timeout "${RMQ_STOP_TIMEOUT}" "$(rmq_sbin)/rabbitmqctl" shutdown
    ) >>"${RMQ_LOG}" 2>&1; then
      log "rabbitmqctl shutdown failed; falling back to SIGTERM"
    fi
    [[ -z "${pid}" ]] || terminate_pid "${pid}" 30 || true
    [[ -z "${beam}" ]] || terminate_pid "${beam}" 30 || true
  fi
  if epmd="$(epmd_pid)"; then
    log "stopping private epmd (pid ${epmd})"
    terminate_pid "${epmd}" 10 || true
  fi
  rm -f "${RMQ_PIDFILE}" "${RMQ_BEAM_PIDFILE}" "${RMQ_EPMD_PIDFILE}"
}

do_start() {
  local pid sbin t0 port
  if pid="$(node_pid)" && rmq_ready; then
    log "already running (pid ${pid}) on ${BROKER_HOST}:${RMQ_PORT}"
    return 0
  fi
  # Anything of ours half-alive (app stopped, wrapper gone, lone epmd): clean.
  stop_all
  for port in "${RMQ_PORT}" "${RMQ_DIST_PORT}"; do
    if port_open "${port}"; then
      die "port ${BROKER_HOST}:${port} is in use by a process this script did not start"
    fi
  done
  sbin="$(rmq_sbin)" || die "rabbitmq-server not installed; run: $0 install"
  t0="$(now_ms)"
  rmq_write_config
  rmq_export_env
  start_epmd
  rotate_log "${RMQ_LOG}"
  printf '=== %s starting node %s on %s:%s\n' "$(date -Is)" "${RMQ_NODENAME}" "${BROKER_HOST}" "${RMQ_PORT}" >>"${RMQ_LOG}"
  spawn_detached "${RMQ_LOG}" "${sbin}/rabbitmq-server"
  pid="${SPAWNED_PID}"
  printf '%s\n' "${pid}" >"${RMQ_PIDFILE}"
  # The AMQP listener opens near the end of boot; then confirm with the CLI.
  if ! wait_until "${RMQ_START_TIMEOUT}" "${pid}" rmq_ready ||
    ! ctl_run await_startup --timeout "${RMQ_START_TIMEOUT}" >>"${RMQ_LOG}" 2>&1; then
    show_log_tail "${RMQ_LOG}" 60
    stop_all
    die "RabbitMQ did not come up on ${BROKER_HOST}:${RMQ_PORT}"
  fi
  log "started (pid ${pid}, beam $(beam_pid || echo '?')) on ${BROKER_HOST}:${RMQ_PORT} in $(($(now_ms) - t0)) ms"
}

cmd_start() {
  take_lock "${RMQ_DIR}/.lock"
  do_start
}

cmd_stop() {
  take_lock "${RMQ_DIR}/.lock"
  local t0
  t0="$(now_ms)"
  stop_all
  log "stopped in $(($(now_ms) - t0)) ms"
}

cmd_restart() {
  take_lock "${RMQ_DIR}/.lock"
  stop_all
  do_start
}

cmd_ctl() {
  local rc=0
  ctl_run "$@" || rc=$?
  if ((rc != 0)) && ! epmd_pid >/dev/null; then
    log "the node is not running (private epmd down): start it with $0 start"
  fi
  return "${rc}"
}

cmd_env() {
  printf 'export BROADWAY_RABBITMQ_URL=amqp://guest:guest@%s:%s/\n' "${BROKER_HOST}" "${RMQ_PORT}"
}

dispatch "$0 install|start|stop|restart|status|env|ctl ARGS..." "$@"
