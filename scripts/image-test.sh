#!/usr/bin/env bash
# Builds the service image from the repository's Dockerfile without a Docker
# engine (podman, chroot isolation) and checks it: `make image-test`, and the
# first step of the image tests of `make test` (tests/deploy/test_image*.py).
#
#   scripts/image-test.sh build   install the tools, make sure the Dockerfile's
#                                 FROM exists, build the image; print its tag
#                                 and size
#   scripts/image-test.sh check   build, then run the image tests (pytest):
#                                 non-root, read-only, no capabilities; probes;
#                                 `validate` exit 78; SIGTERM drains, exit 0;
#                                 the chart's pod run in the image
#   (no argument)                 check
#
# Tools: podman, buildah, mmdebstrap, runc and uidmap from Debian's packages
# (apt-get update runs once, only when one is missing).
#
# The base image: the Dockerfile's FROM is pulled when a registry answers.
# When none does (as on the project's machines), a STAND-IN is built with
# mmdebstrap from Debian bookworm's packages (python3.11, its venv module,
# ca-certificates), cached in ${IMAGE_CACHE}, and tagged with the FROM name
# in the local store only. It is labelled org.broadway-py.stand-in=true and
# this script says so every time: the real base is then NOT what was tested.
#
# When containers cannot run here (no root to install the tools, no user
# namespaces or cgroups for the runtime, podman failing) it prints
# "SKIP: <reason>" and exits 77; the tests turn that into a skip.
#
# Environment: BROADWAY_IMAGE (the tag to build, default
# localhost/broadway-py:test), IMAGE_CACHE (default .image-cache), VENV.
# Writes ${IMAGE_CACHE}/image.env (IMAGE, BASE_KIND, SIZE_BYTES) for the tests.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${REPO}"
IMAGE="${BROADWAY_IMAGE:-localhost/broadway-py:test}"
IMAGE_CACHE="${IMAGE_CACHE:-.image-cache}"
case "${IMAGE_CACHE}" in /*) ;; *) IMAGE_CACHE="${REPO}/${IMAGE_CACHE}" ;; esac
VENV="${VENV:-.venv}"
SKIP=77
PACKAGES=(podman buildah mmdebstrap runc uidmap)
# What the stand-in holds: the interpreter the official image has, at the
# minor version the FROM names, plus what its build and runtime stages run.
STANDIN_SUITE=bookworm
STANDIN_PACKAGES=python3.11,python3.11-venv,python-is-python3,ca-certificates,passwd
STANDIN_VERSION=1 # bump to rebuild cached stand-ins

log() { printf '[image-test] %s\n' "$*" >&2; }
skip() {
  printf 'SKIP: %s\n' "$*"
  log "SKIP: $*"
  exit "${SKIP}"
}
die() {
  log "ERROR: $*"
  exit 1
}
as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo "$@"
  else
    return 99
  fi
}

# ---- tools -------------------------------------------------------------------
install_tools() {
  local missing=() package
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("${package}")
  done
  if ((${#missing[@]} == 0)); then
    log "tools present: $(podman --version)"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 ||
    skip "no apt-get to install ${missing[*]} (install podman, buildah, mmdebstrap, runc, uidmap)"
  log "apt-get install ${missing[*]}"
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
  [[ ${rc} == 99 ]] && skip "not root and no password-less sudo: cannot apt-get install ${missing[*]}"
  ((rc == 0)) || die "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
  log "installed: $(podman --version)"
}

# Flags every `podman run` of this project's tests needs on such hosts: runc
# (crun fails on mixed cgroup hierarchies) and limits the container may hold
# (it cannot raise them above the host's). Containers get a network of their
# own (podman's bridge); the tests publish their port on 127.0.0.1 only.
run_flags() {
  printf '%s\n' --runtime runc \
    --ulimit "nofile=$(ulimit -n):$(ulimit -n)" --ulimit "nproc=4096:4096"
}

# ---- base image ----------------------------------------------------------------
from_image() {
  local from
  from="$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile)"
  [[ -n "${from}" ]] || die "no FROM in the Dockerfile"
  printf '%s\n' "${from}"
}

is_stand_in() {
  [[ "$(podman image inspect --format '{{index .Labels "org.broadway-py.stand-in"}}' "$1" 2>/dev/null)" == true ]]
}

build_stand_in() {
  local from="$1" tarball="${IMAGE_CACHE}/stand-in-${STANDIN_SUITE}-v${STANDIN_VERSION}.tar"
  mkdir -p "${IMAGE_CACHE}"
  if [[ ! -s "${tarball}" ]]; then
    log "building a stand-in base with mmdebstrap (${STANDIN_SUITE}: ${STANDIN_PACKAGES})"
    local ca=/etc/ssl/certs/ca-certificates.crt hooks=()
    # The host's CA bundle, so that pip in the build trusts what the host trusts.
    [[ -s "${ca}" ]] && hooks=(--customize-hook="cat '${ca}' > \"\$1/etc/ssl/certs/ca-certificates.crt\"")
    # shellcheck disable=SC2016 # $1 is the hook's argument (the new root), for mmdebstrap to expand
    local args=(--quiet --format=tar --variant=minbase --include="${STANDIN_PACKAGES}"
      --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*'
      "${hooks[@]}" "${STANDIN_SUITE}" "${tarball}.partial")
    if [[ "$(id -u)" == 0 ]]; then
      mmdebstrap "${args[@]}" || die "mmdebstrap failed (see above)"
    else
      # Unprivileged, mmdebstrap needs user namespaces (its unshare mode).
      mmdebstrap "${args[@]}" 2>"${IMAGE_CACHE}/mmdebstrap.log" ||
        skip "cannot build the stand-in base as $(id -un) (mmdebstrap: $(tail -n 1 "${IMAGE_CACHE}/mmdebstrap.log" | cut -c1-160))"
    fi
    mv -f "${tarball}.partial" "${tarball}"
  fi
  podman import --quiet \
    --change 'CMD ["python3"]' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL org.broadway-py.stand-in=true' \
    "${tarball}" "${from}" >/dev/null || die "podman import of ${tarball} failed"
}

ensure_base() {
  local from
  from="$(from_image)"
  if podman image exists "${from}"; then
    :
  elif timeout 60 podman pull --quiet "docker.io/library/${from}" >/dev/null 2>"${IMAGE_CACHE}/pull.log"; then
    log "pulled the real base ${from}"
  else
    log "no registry answered for ${from} ($(tail -n 1 "${IMAGE_CACHE}/pull.log" | cut -c1-160))"
    [[ "${from}" != *@* ]] ||
      skip "the Dockerfile pins ${from} by digest, no registry serves it here, and a stand-in cannot carry that digest"
    build_stand_in "${from}"
  fi
  if is_stand_in "${from}"; then
    BASE_KIND=stand-in
    log "NOTE: ${from} is a STAND-IN built from Debian ${STANDIN_SUITE} packages" \
      "(/usr/bin/python3.11, not the official image's /usr/local/bin/python): the real base stays untested"
  else
    BASE_KIND=real
    log "base: ${from} (the real image)"
  fi
}

# ---- can containers run here? --------------------------------------------------
probe_runtime() {
  local out
  out="$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>&1)" || skip "podman info fails: ${out##*$'\n'}"
  local from
  from="$(from_image)"
  mapfile -t flags < <(run_flags)
  if ! out="$(podman run --rm "${flags[@]}" --name broadway-probe-$$ "${from}" true 2>&1)"; then
    skip "podman cannot run a container here (user namespaces, cgroups or its bridge network?): ${out##*$'\n'}"
  fi
}

probe_storage() {
  local out
  out="$(podman info --format '{{.Store.GraphDriverName}}' 2>&1)" || skip "podman cannot start here: ${out##*$'\n'}"
}

# ---- build ---------------------------------------------------------------------
build() {
  mkdir -p "${IMAGE_CACHE}"
  local started
  started="$(date +%s)"
  install_tools
  probe_storage
  ensure_base
  probe_runtime
  log "podman build -t ${IMAGE} (chroot isolation, host network for pip)"
  if ! podman build --isolation=chroot --network host --format docker \
    --layers --tag "${IMAGE}" --file Dockerfile . >"${IMAGE_CACHE}/build.log" 2>&1; then
    tail -n 40 "${IMAGE_CACHE}/build.log" >&2
    die "podman build failed (whole log: ${IMAGE_CACHE}/build.log)"
  fi
  # Layers of earlier builds are the cache of the next one: only old ones go.
  podman image prune --force --filter until=24h >/dev/null 2>&1 || true
  local size
  size="$(podman image inspect --format '{{.Size}}' "${IMAGE}")"
  {
    printf 'IMAGE=%s\n' "${IMAGE}"
    printf 'BASE_KIND=%s\n' "${BASE_KIND}"
    printf 'SIZE_BYTES=%s\n' "${size}"
  } >"${IMAGE_CACHE}/image.env"
  log "built ${IMAGE} on the ${BASE_KIND} base in $(($(date +%s) - started))s"
  printf 'image %s: %s bytes (%s MB), base: %s\n' "${IMAGE}" "${size}" "$((size / 1000000))" "${BASE_KIND}"
}

check() {
  local rc=0
  build || rc=$?
  ((rc == 0)) || exit "${rc}"
  scripts/install-tools.sh # helm, for the chart's pod
  local select=()
  if [[ -z "${BROADWAY_KAFKA_BOOTSTRAP:-}" ]]; then
    # `make test` starts the brokers; alone, run the value sets that need none.
    log "no brokers in the environment: the broker-backed value sets are left out" \
      "(make brokers-start; eval \"\$(scripts/brokers/all.sh env)\" to include them)"
    select=(-m "not kafka and not rabbitmq and not sqs")
  fi
  "${VENV}/bin/python" -m pytest -q "${select[@]}" tests/deploy/test_image.py tests/deploy/test_chart_pod.py
}

case "${1:-check}" in
  build) build ;;
  check) check ;;
  run-flags) run_flags ;;
  *) die "usage: $0 [build|check|run-flags]" ;;
esac
