# shellcheck shell=bash
# Shared helpers for the broker scripts in this directory. Source it, do not run it.
#
# Provides: REPO (repository root), BROKERS_DIR (state root), VENV (absolute),
# logging, pid-file handling, detached spawning, waiting with a deadline,
# apt/pip installation helpers.

set -euo pipefail

BROKERS_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${BROKERS_SCRIPT_DIR}/../.." && pwd)"
BROKERS_DIR="${BROADWAY_BROKERS_DIR:-${REPO}/.brokers}"
VENV="${VENV:-.venv}"
case "${VENV}" in
  /*) ;;
  *) VENV="${REPO}/${VENV}" ;;
esac
BROKER_HOST="127.0.0.1"
# Name used in log lines; each broker script sets it before using the helpers.
BROKER_NAME="${BROKER_NAME:-brokers}"

log() {
  printf '[brokers:%s] %s\n' "${BROKER_NAME}" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

# state_dir NAME -> prints (and creates) the broker's state directory.
state_dir() {
  local dir="${BROKERS_DIR}/$1"
  mkdir -p "${dir}"
  printf '%s\n' "${dir}"
}

# now_ms -> milliseconds since the epoch (for timing).
now_ms() {
  local t
  t="$(date +%s%N)"
  printf '%s\n' "$((t / 1000000))"
}

# ---------------------------------------------------------------- processes

# take_lock FILE [SECONDS] -> holds an exclusive flock on FILE until this
# process exits (serialises concurrent start/stop of one broker). The fd is
# not inherited by brokers: spawn_detached closes it.
declare -A HELD_LOCKS=()
take_lock() {
  local file="$1" secs="${2:-600}" fd
  [[ -z "${HELD_LOCKS[${file}]:-}" ]] || return 0
  mkdir -p "$(dirname "${file}")"
  exec {fd}>>"${file}"
  flock -w "${secs}" "${fd}" || die "could not lock ${file} within ${secs}s"
  HELD_LOCKS["${file}"]="${fd}"
}


# pid_alive PID -> 0 if the process exists and is not a zombie.
pid_alive() {
  local pid="$1" state
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  kill -0 "${pid}" 2>/dev/null || return 1
  # A reparented child may linger as a zombie if PID 1 does not reap it.
  state="$(awk '{print $3}' "/proc/${pid}/stat" 2>/dev/null || true)"
  [[ "${state}" != "Z" && -n "${state}" ]]
}

# pid_matches PID PATTERN -> 0 if the process is alive and its command line
# contains PATTERN (guards against a recycled pid).
pid_matches() {
  local pid="$1" pattern="$2" cmdline
  pid_alive "${pid}" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null || true)"
  [[ "${cmdline}" == *"${pattern}"* ]]
}

# read_pid FILE -> prints the pid stored in FILE (empty if none/invalid).
read_pid() {
  local file="$1" pid=""
  if [[ -f "${file}" ]]; then
    pid="$(tr -dc '0-9' <"${file}" || true)"
  fi
  printf '%s\n' "${pid}"
}

# pidfile_live FILE PATTERN -> prints the pid and returns 0 if FILE names a
# live process matching PATTERN; removes a stale FILE and returns 1 otherwise.
pidfile_live() {
  local file="$1" pattern="$2" pid
  pid="$(read_pid "${file}")"
  if [[ -n "${pid}" ]] && pid_matches "${pid}" "${pattern}"; then
    printf '%s\n' "${pid}"
    return 0
  fi
  if [[ -e "${file}" ]]; then
    log "removing stale pid file ${file}${pid:+ (pid ${pid})}"
    rm -f "${file}"
  fi
  return 1
}

# spawn_detached LOGFILE CMD [ARGS...] -> starts CMD in a new session with
# stdin from /dev/null, stdout/stderr appended to LOGFILE and every other
# inherited file descriptor closed (so a caller's pipe is never held open).
# Sets SPAWNED_PID to the pid of CMD itself.
# shellcheck disable=SC2034  # read by the scripts that source this file
SPAWNED_PID=""
spawn_detached() {
  local logfile="$1"
  shift
  (
    for fd_path in /proc/self/fd/*; do
      fd="${fd_path##*/}"
      if [[ "${fd}" =~ ^[0-9]+$ ]] && ((fd > 2)); then
        eval "exec ${fd}>&-" 2>/dev/null || true
      fi
    done
    # Not a process-group leader (no job control), so setsid does not fork:
    # the pid of this subshell becomes the pid of CMD.
    exec setsid "$@" </dev/null >>"${logfile}" 2>&1
  ) &
  # shellcheck disable=SC2034  # read by the scripts that source this file
  SPAWNED_PID=$!
}

# wait_pid_exit PID SECONDS -> waits until PID is gone; 1 on timeout.
wait_pid_exit() {
  local pid="$1" secs="$2" deadline
  deadline=$((SECONDS + secs))
  while pid_alive "${pid}"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
  return 0
}

# terminate_pid PID [SECONDS] -> SIGTERM, wait, then SIGKILL if needed.
terminate_pid() {
  local pid="$1" secs="${2:-15}"
  pid_alive "${pid}" || return 0
  kill -TERM "${pid}" 2>/dev/null || true
  if ! wait_pid_exit "${pid}" "${secs}"; then
    log "pid ${pid} did not exit after SIGTERM within ${secs}s; sending SIGKILL"
    kill -KILL "${pid}" 2>/dev/null || true
    wait_pid_exit "${pid}" 10 || {
      log "pid ${pid} still alive after SIGKILL"
      return 1
    }
  fi
  return 0
}

# ---------------------------------------------------------------- network

# port_open PORT [HOST] -> 0 if a TCP connection succeeds.
port_open() {
  local port="$1" host="${2:-${BROKER_HOST}}"
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${host}" "${port}" 2>/dev/null
}

# http_ok PORT PATH [HOST] -> 0 if GET PATH answers with HTTP 2xx (pure bash).
http_ok() {
  local port="$1" path="$2" host="${3:-${BROKER_HOST}}"
  # shellcheck disable=SC2016
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n" "$3" "$1" "$2" >&3
    IFS= read -r line <&3 || exit 1
    [[ "${line}" =~ ^HTTP/[0-9.]+\ 2[0-9][0-9] ]]
  ' _ "${host}" "${port}" "${path}" 2>/dev/null
}

# wait_until SECONDS PID CMD [ARGS...] -> polls CMD until it succeeds.
# Fails early if PID (when non-empty) dies, or when SECONDS elapse.
wait_until() {
  local secs="$1" pid="$2" deadline
  shift 2
  deadline=$((SECONDS + secs))
  while true; do
    if "$@"; then
      return 0
    fi
    if [[ -n "${pid}" ]] && ! pid_alive "${pid}"; then
      log "process ${pid} exited while waiting for readiness"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${secs}s waiting for readiness"
      return 1
    fi
    sleep 0.1
  done
}

# rotate_log FILE -> keeps the previous run's log as FILE.1.
rotate_log() {
  local file="$1"
  if [[ -s "${file}" ]]; then
    mv -f "${file}" "${file}.1"
  fi
}

# show_log_tail FILE [LINES] -> prints the end of a log to stderr.
show_log_tail() {
  local file="$1" lines="${2:-40}"
  if [[ -f "${file}" ]]; then
    log "last ${lines} lines of ${file}:"
    tail -n "${lines}" "${file}" >&2 || true
  else
    log "no log file at ${file}"
  fi
}

# ---------------------------------------------------------------- installing

# as_root CMD... -> runs CMD as root (directly when already root, else sudo).
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -E "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# apt_install_missing PKG... -> installs the packages not yet installed;
# runs `apt-get update` once first, only when something is missing.
apt_install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("${pkg}")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "apt packages already installed: $*"
    return 0
  fi
  log "apt-get update, then installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# venv_python -> prints the venv's python path (may not exist yet).
venv_python() {
  printf '%s\n' "${VENV}/bin/python"
}

# ensure_venv -> creates the virtualenv if its python is missing.
ensure_venv() {
  local py
  py="$(venv_python)"
  if [[ ! -x "${py}" ]]; then
    log "creating virtualenv ${VENV}"
    python3 -m venv "${VENV}"
  fi
}

# pip_install SPEC... -> pip-installs into the venv (creating it if needed).
# Packages already in the venv are kept at their versions when possible
# (moto alone would otherwise upgrade botocore past aiobotocore's pin).
pip_install() {
  take_lock "${BROKERS_DIR}/.pip.lock"
  ensure_venv
  local py constraints rc=0
  py="$(venv_python)"
  constraints="$(mktemp)"
  "${py}" -m pip freeze --disable-pip-version-check 2>/dev/null |
    grep -E '^[A-Za-z0-9_.-]+==' >"${constraints}" || true
  log "pip install into ${VENV}: $*"
  "${py}" -m pip install --quiet --disable-pip-version-check \
    -c "${constraints}" "$@" || rc=$?
  rm -f "${constraints}"
  if ((rc != 0)); then
    log "pip install keeping installed versions failed; retrying without that constraint"
    "${py}" -m pip install --quiet --disable-pip-version-check "$@"
  fi
}

# site_packages_find RELPATH -> prints the first existing
# ${VENV}/lib/python*/site-packages/RELPATH (empty if none).
site_packages_find() {
  local rel="$1" candidate
  for candidate in "${VENV}"/lib/python*/site-packages/"${rel}"; do
    if [[ -e "${candidate}" ]]; then
      printf '%s\n' "${candidate}"
      return 0
    fi
  done
  return 1
}

# dispatch USAGE CMD [ARGS...] -> runs cmd_<CMD> if it exists.
dispatch() {
  local usage="$1"
  shift
  local cmd="${1:-}"
  if [[ -z "${cmd}" ]]; then
    printf 'usage: %s\n' "${usage}" >&2
    exit 2
  fi
  shift
  if ! declare -F "cmd_${cmd}" >/dev/null; then
    printf 'unknown command: %s\nusage: %s\n' "${cmd}" "${usage}" >&2
    exit 2
  fi
  "cmd_${cmd}" "$@"
}
