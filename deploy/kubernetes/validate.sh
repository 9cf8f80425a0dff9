#!/usr/bin/env bash
# Checks deploy/kubernetes offline: renders the base and every overlay with kubectl's built-in
# Kustomize, validates every rendered object against Kubernetes' own schemas
# (kubernetes-validate, which bundles them; strict: unknown fields are errors), checks the
# KEDA objects (a CRD, so no bundled schema) for what they must name, and runs
# `herald validate` on the herald.yaml inside each rendered ConfigMap, with a dummy value for
# every variable the Deployment fills from the Secret. Any problem fails it.
#
# Needs kubectl (1.21+, for `kubectl kustomize`), python3 with pip, and the build (`pnpm build`).
# Usage: bash deploy/kubernetes/validate.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

# The Kubernetes version the manifests must be valid for, and the validator that knows it.
KUBERNETES_VERSION=1.30.0
VALIDATOR_VERSION=1.37.0
# Custom resources without a bundled schema, checked by check-rendered below instead.
CRD_KINDS=(ScaledObject TriggerAuthentication)

command -v kubectl >/dev/null 2>&1 || { echo "missing kubectl (renders the Kustomize directories)" >&2; exit 1; }
command -v node >/dev/null 2>&1 || { echo "missing node" >&2; exit 1; }
test -f packages/cli/dist/main.js || { echo "Herald is not built: run pnpm build first" >&2; exit 1; }
if [[ "$(python3 -m kubernetes_validate --version 2>/dev/null || true)" != "$VALIDATOR_VERSION" ]]; then
  python3 -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$VALIDATOR_VERSION"
fi
echo "kustomize $(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p') (kubectl)," \
  "kubernetes-validate $(python3 -m kubernetes_validate --version), Kubernetes $KUBERNETES_VERSION"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Splits a rendered file into the objects with a bundled schema ($2) and checks what the
# schemas cannot: the KEDA objects, the Deployment against its own herald.yaml. Writes
# herald.yaml ($3) and, to stdout, NAME=VALUE lines for `herald validate`'s environment.
check_rendered() {
  python3 - "$1" "$2" "$3" "${CRD_KINDS[@]}" <<'PY'
import re
import sys

import yaml

rendered, core_out, config_out, *crd_kinds = sys.argv[1:]
problems = []
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d.get("kind"), []).append(d)
core = [d for d in docs if d.get("kind") not in crd_kinds]
with open(core_out, "w") as f:
    yaml.safe_dump_all(core, f, sort_keys=False)

def names(kind):
    return {d["metadata"]["name"] for d in by_kind.get(kind, [])}

# KEDA objects: the right API group, a target that exists, authentication that exists.
for d in docs:
    kind = d.get("kind")
    if kind not in crd_kinds:
        continue
    where = f"{kind}/{d.get('metadata', {}).get('name')}"
    if not str(d.get("apiVersion", "")).startswith("keda.sh/"):
        problems.append(f"{where}: apiVersion {d.get('apiVersion')} is not keda.sh/…")
    spec = d.get("spec") or {}
    if kind == "TriggerAuthentication" and not spec:
        problems.append(f"{where}: empty spec")
    if kind == "ScaledObject":
        target = (spec.get("scaleTargetRef") or {}).get("name")
        if target not in names("Deployment"):
            problems.append(f"{where}: scaleTargetRef {target!r} is no Deployment here")
        low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
            problems.append(f"{where}: expected 1 <= minReplicaCount <= maxReplicaCount")
        triggers = spec.get("triggers") or []
        if not triggers:
            problems.append(f"{where}: no triggers")
        for t in triggers:
            if not t.get("type") or not t.get("metadata"):
                problems.append(f"{where}: a trigger without type or metadata")
            auth = (t.get("authenticationRef") or {}).get("name")
            if auth is not None and auth not in names("TriggerAuthentication"):
                problems.append(f"{where}: authenticationRef {auth!r} is no TriggerAuthentication here")
            if any(not isinstance(v, str) for v in (t.get("metadata") or {}).values()):
                problems.append(f"{where}: trigger metadata values must be strings")
        for dep in by_kind.get("Deployment", []):
            if dep["metadata"]["name"] == target and "replicas" in dep["spec"]:
                problems.append(f"{where}: Deployment {target} still sets replicas, which KEDA owns")

# The Deployment and the herald.yaml it mounts.
deployments = by_kind.get("Deployment", [])
if len(deployments) != 1:
    problems.append(f"expected one Deployment, found {len(deployments)}")
env_lines = []
for dep in deployments:
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounted = [v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v]
    maps = [c for c in by_kind.get("ConfigMap", []) if c["metadata"]["name"] in mounted]
    if len(maps) != 1 or "herald.yaml" not in maps[0].get("data", {}):
        problems.append("the Deployment mounts no ConfigMap with herald.yaml")
        continue
    text = maps[0]["data"]["herald.yaml"]
    with open(config_out, "w") as f:
        f.write(text)
    config = yaml.safe_load(text) or {}
    herald = config.get("herald") or {}
    listen = str((herald.get("http") or {}).get("listen", ""))
    port = int(listen.rsplit(":", 1)[1]) if re.fullmatch(r".+:\d+", listen) else None
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if port is None or port not in ports.values():
        problems.append(f"herald.http.listen {listen!r}: its port is not a container port {sorted(ports.values())}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        target = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != path or target != port:
            problems.append(f"{probe}: expected GET {path} on port {port}, got {get.get('path')} on {target}")
    grace_ms = int((herald.get("processor") or {}).get("shutdownGraceMs", 30000))
    # HTTP server 5 s + cancelled sends 5 s + settling 10 s after the processor's grace.
    needed = grace_ms // 1000 + 20
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < needed:
        problems.append(f"terminationGracePeriodSeconds {grace} < shutdownGraceMs/1000 + 20 = {needed}")
    args = container.get("args") or []
    mount = next((m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in
                  [v["name"] for v in pod.get("volumes", []) if "configMap" in v]), None)
    if args[:1] != ["run"] or f"{mount}/herald.yaml" not in args:
        problems.append(f"container args {args} do not run {mount}/herald.yaml")
    for e in container.get("env", []):
        name = e["name"]
        if "value" in e:
            env_lines.append(f"{name}={e['value']}")
        elif "secretKeyRef" in (e.get("valueFrom") or {}):
            if "STORE" in name:
                value = "postgres://herald:dummy@127.0.0.1:5432/herald"
            elif name.endswith("_URL"):
                value = "https://example.invalid/dummy"
            else:
                value = "dummy"
            env_lines.append(f"{name}={value}")

for p in problems:
    print(f"ERROR {rendered}: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print("\n".join(env_lines))
PY
}

dirs=(deploy/kubernetes/base deploy/kubernetes/overlays/*/)
failed=0
for dir in "${dirs[@]}"; do
  dir="${dir%/}"
  name="$(basename "$dir")"
  echo "== $dir"
  out="$work/$name"
  mkdir -p "$out"
  if ! kubectl kustomize "$dir" >"$out/rendered.yaml"; then
    echo "FAIL $dir: kubectl kustomize" >&2
    failed=1
    continue
  fi
  echo "rendered: $(grep -c '^kind:' "$out/rendered.yaml") objects ($(grep '^kind:' "$out/rendered.yaml" | awk '{print $2}' | sort | paste -sd ' ' -))"
  if ! env_lines="$(check_rendered "$out/rendered.yaml" "$out/core.yaml" "$out/herald.yaml")"; then
    echo "FAIL $dir: manifests" >&2
    failed=1
    continue
  fi
  # A missing schema is only a warning to kubernetes-validate; here every object but the
  # CRD kinds must have one, so any warning fails.
  if ! report="$(python3 -m kubernetes_validate --kubernetes-version "$KUBERNETES_VERSION" --strict "$out/core.yaml" 2>&1)" ||
    grep -qv '^INFO ' <<<"$report"; then
    echo "$report" >&2
    echo "FAIL $dir: kubernetes-validate" >&2
    failed=1
    continue
  fi
  echo "kubernetes-validate: $(grep -c '^INFO .* passed' <<<"$report") objects valid for Kubernetes $KUBERNETES_VERSION (strict)"
  # Only the Deployment's variables: one that herald.yaml names but the Deployment does not
  # map from the Secret is reported missing.
  mapfile -t env_args <<<"$env_lines"
  if ! env -i PATH="$PATH" HOME="${HOME:-/tmp}" "${env_args[@]}" \
    node packages/cli/bin/herald.js validate --config "$out/herald.yaml"; then
    echo "FAIL $dir: herald validate (herald.yaml in the rendered ConfigMap)" >&2
    failed=1
    continue
  fi
done

if [[ "$failed" != 0 ]]; then
  echo "deploy/kubernetes: FAILED" >&2
  exit 1
fi
echo "deploy/kubernetes: ${#dirs[@]} directories rendered and valid"
