#!/usr/bin/env bash
# A real node for the test control plane of scripts/kube-testenv.sh (issue #13): kubelet,
# containerd and Traefik built from the Go module proxy into .cache/kube/bin, Debian's runc and
# CNI plugins. See testenv/README.md, "A real node".
#
#   scripts/kube-node.sh deps       apt-get install what the node needs, if missing (runc, CNI
#                                   plugins, socat, mmdebstrap for the runner image)
#   scripts/kube-node.sh build      build kubelet, containerd (+ ctr, shim) and traefik (cached,
#                                   each rebuilt only when its version stamp changes)
#   scripts/kube-node.sh start      needs scripts/kube-testenv.sh start first: containerd + kubelet
#                                   as node gofast-node-0 in network namespace gofast-node (no
#                                   route out, pods without DNS), the pause and runner images
#                                   imported; waits until the Node is Ready
#   scripts/kube-node.sh smoke      a hardened pod with the runner image runs; its log comes back
#   scripts/kube-node.sh traefik    start Traefik in the node's namespace (kubernetescrd provider,
#                                   API, ping and Prometheus metrics), bridged to host 127.0.0.1
#   scripts/kube-node.sh route-smoke  a runner pod with a FastAPI app answers through Traefik
#   scripts/kube-node.sh import F   import an OCI image tar into the node's containerd
#   scripts/kube-node.sh expose P   let the node's pods reach this machine's 127.0.0.1:P at 10.88.0.1:P
#   scripts/kube-node.sh chart-test MONGODB_URI
#                                   helm install helm/gofast (the control-plane image, one replica,
#                                   MongoDB at MONGODB_URI on this machine, e.g. FerretDB), `helm
#                                   test` (an app deployed through it answers through Traefik),
#                                   helm uninstall
#   scripts/kube-node.sh stop       kill it all, remove the namespace, the temp dir and the Node
#   scripts/kube-node.sh versions   print the versions that `build` builds
#
# Environment:
#   GOFAST_NODE_BUILD="kubelet containerd traefik helm"   which binaries `build` builds
set -eEuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTENV="$ROOT/testenv"
CACHE="$ROOT/.cache/kube"
BIN="$CACHE/bin"
BUILD_LOG="$CACHE/build-node.log"
BUILD_TIMES="$CACHE/build-times"

export GOTOOLCHAIN=local
GO_BUILD_FLAGS="-mod=mod -buildvcs=false"

log() { echo "kube-node: $*" >&2; }
die() { log "error: $*"; exit 1; }

mod_version() { # module go.mod-dir -> version required in that go.mod
    awk -v m="$1" '$1==m && $2 ~ /^v/ {print $2; exit}' "$2/go.mod"
}

# The kubelet is built from the same k8s.io/kubernetes as the apiserver (testenv/go.mod);
# containerd from testenv/containerd/go.mod; Traefik from testenv/traefik/go.mod, meant to be the
# version of the CRDs that kube-testenv.sh installs (its TRAEFIK_VERSION; see build_traefik).
KUBE_VERSION="$(mod_version k8s.io/kubernetes "$TESTENV")"
CONTAINERD_VERSION="$(mod_version github.com/containerd/containerd/v2 "$TESTENV/containerd")"
TRAEFIK_VERSION="$(awk -F'"' '/^TRAEFIK_VERSION=/{print $2; exit}' "$ROOT/scripts/kube-testenv.sh")"
[[ -n "$KUBE_VERSION" && -n "$CONTAINERD_VERSION" && -n "$TRAEFIK_VERSION" ]] ||
    die "cannot read the versions from testenv/go.mod, testenv/containerd/go.mod and scripts/kube-testenv.sh"

stamp_of() { # name version extra...
    echo "$* $(go env GOVERSION)"
}

build_one() { # name moddir package stamp ldflags [go build args...]
    local name="$1" moddir="$2" pkg="$3" stamp="$4" ldflags="$5"
    shift 5
    if [[ -x "$BIN/$name" && -f "$BIN/$name.stamp" && "$(cat "$BIN/$name.stamp")" == "$stamp" ]]; then
        return 0
    fi
    log "building $name ($pkg) — a long Go build; log: $BUILD_LOG"
    local start=$SECONDS
    if ! (cd "$moddir" && echo "== $(date -Is) go build $* $pkg" &&
          GOFLAGS="$GO_BUILD_FLAGS" nice -n 10 go build -trimpath -ldflags="$ldflags" "$@" -o "$BIN/$name.tmp" "$pkg") \
          >>"$BUILD_LOG" 2>&1; then
        tail -n 30 "$BUILD_LOG" >&2
        die "building $name failed (command: cd $moddir && GOFLAGS='$GO_BUILD_FLAGS' go build -trimpath -ldflags='$ldflags' $* -o $BIN/$name $pkg)"
    fi
    mv -f "$BIN/$name.tmp" "$BIN/$name"
    echo "$stamp" >"$BIN/$name.stamp"
    local took=$((SECONDS - start))
    echo "$(date -Is) $name $took s ($stamp)" >>"$BUILD_TIMES"
    log "built $name in ${took}s"
}

build_kubelet() {
    local kv="k8s.io/component-base/version"
    local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
    local ld="-s -w -X $kv.gitVersion=$KUBE_VERSION -X $kv.gitMajor=1 -X $kv.gitMinor=$minor -X $kv.gitTreeState=clean"
    # static, as Kubernetes releases it
    CGO_ENABLED=0 build_one kubelet "$TESTENV" k8s.io/kubernetes/cmd/kubelet "$(stamp_of kubelet "$KUBE_VERSION" "$ld")" "$ld"
}

build_containerd() {
    local m=github.com/containerd/containerd/v2
    local ld="-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Package=$m"
    # no_btrfs: the btrfs snapshotter needs the btrfs headers (cgo); overlayfs is what the node uses
    local tags="no_btrfs urfave_cli_no_docs"
    local c
    for c in containerd ctr containerd-shim-runc-v2; do
        CGO_ENABLED=1 build_one "$c" "$TESTENV/containerd" "$m/cmd/$c" \
            "$(stamp_of "$c" "$CONTAINERD_VERSION" "$ld" "$tags")" "$ld" -tags "$tags"
    done
}

build_traefik() {
    local m=github.com/traefik/traefik/v3
    [[ -f "$TESTENV/traefik/go.mod" ]] || die "testenv/traefik/go.mod is missing"
    local tv
    tv="$(mod_version "$m" "$TESTENV/traefik")"
    [[ -n "$tv" ]] || die "testenv/traefik/go.mod has no $m requirement"
    # the CRDs the apiserver validates against must be this binary's (testenv/README.md)
    [[ "$tv" == "$TRAEFIK_VERSION" ]] ||
        die "testenv/traefik/go.mod builds Traefik $tv, but kube-testenv.sh installs the CRDs of $TRAEFIK_VERSION: make them one version"
    local ld="-s -w -X $m/pkg/version.Version=$tv -X $m/pkg/version.Codename=gofast-testenv"
    CGO_ENABLED=0 build_one traefik "$TESTENV/traefik" "$m/cmd/traefik" "$(stamp_of traefik "$tv" "$ld")" "$ld"
}

cmd_deps() {
    local missing=()
    command -v runc >/dev/null || missing+=(runc)
    [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
    command -v socat >/dev/null || missing+=(socat)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    ((${#missing[@]} == 0)) && return 0
    [[ "$(id -u)" == 0 ]] || die "missing ${missing[*]}: apt-get install -y ${missing[*]} (as root)"
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

build_helm() {
    local m=helm.sh/helm/v3 hv
    hv="$(mod_version "$m" "$TESTENV/helm")"
    [[ -n "$hv" ]] || die "testenv/helm/go.mod has no $m requirement"
    local ld="-s -w -X $m/internal/version.version=$hv"
    CGO_ENABLED=0 build_one helm "$TESTENV/helm" "$m/cmd/helm" "$(stamp_of helm "$hv" "$ld")" "$ld"
}

cmd_build() {
    command -v go >/dev/null || die "go is not installed"
    mkdir -p "$BIN"
    local what="${GOFAST_NODE_BUILD:-kubelet containerd traefik helm}" w
    for w in $what; do
        case "$w" in
            kubelet) build_kubelet;;
            containerd) build_containerd;;
            traefik) build_traefik;;
            helm) build_helm;;
            *) die "GOFAST_NODE_BUILD: unknown binary $w (kubelet, containerd, traefik, helm)";;
        esac
    done
}

# ---------------------------------------------------------------------------------------------
# start / stop: containerd + kubelet as a real node in a network namespace of its own

NODE_STATE="$CACHE/node-state"
# not NODE_NAME: sourcing kube-testenv's state file sets that (to the kwok node)
REAL_NODE="gofast-node-0"
NETNS="gofast-node"
POD_SUBNET="10.88.0.0/16" # only inside the node's network namespace; no route leaves it
POD_GATEWAY="10.88.0.1"   # the node's address on the pods' bridge
SERVICE_SUBNET="10.96.0.0/16" # kube-testenv.sh's --service-cluster-ip-range
KUBERNETES_SERVICE_IP="10.96.0.1"
PAUSE_IMAGE="gofast.dev/pause:testenv"
RUNNER_IMAGE_TAR="$ROOT/.cache/runner-image/runner.oci.tar"
TIMEOUT="${GOFAST_KUBE_TIMEOUT:-180}"

node_save() { local kv; for kv in "$@"; do printf '%s\n' "$kv" >>"$NODE_STATE"; done; }

# NODEPID_*, not PID_*: stop also sources kube-testenv's state, whose PID_* are the control plane
node_bg() { # name cmd... ; detached in its own session, log in $NODE_DIR/logs, pid in the state
    local name="$1"; shift
    setsid "$@" >"$NODE_DIR/logs/$name.log" 2>&1 </dev/null 8>&- &
    node_save "NODEPID_${name//-/_}=$!"
}

# only the network namespace: the mounts stay shared between the kubelet, containerd and runc
NSENTER=(nsenter --net="/run/netns/$NETNS")

wait_for() { # what cmd... ; polls cmd until it succeeds
    local what="$1"; shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { log "timed out waiting for $what"; return 1; }
        sleep 0.5
    done
}

api() { # method path [curl args...] ; the test apiserver as the admin client certificate
    local m="$1" p="$2"; shift 2
    curl -fsS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
        -X "$m" "https://127.0.0.1:$APISERVER_PORT$p" "$@"
}

# shellcheck disable=SC2317 # called through wait_for
node_ready() {
    api GET "/api/v1/nodes/$REAL_NODE" | jq -e '.status.conditions[] | select(.type=="Ready") | .status=="True"' | grep -q true
}

build_pause_image() { # -> $NODE_DIR/pause.oci.tar
    local d="$NODE_DIR/pause"
    mkdir -p "$d/rootfs"
    (cd "$TESTENV" && CGO_ENABLED=0 GOFLAGS="$GO_BUILD_FLAGS" go build -trimpath -ldflags="-s -w" -o "$d/rootfs/pause" ./cmd/pause)
    tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$d/rootfs" -cf "$d/layer.tar" pause
    python3 "$TESTENV/runner-image/oci_layout.py" --rootfs-tar "$d/layer.tar" --name "$PAUSE_IMAGE" \
        --user 65535:65535 --cmd '["/pause"]' --out "$NODE_DIR/pause.oci.tar" >/dev/null
}

write_node_configs() {
    mkdir -p "$NODE_DIR/cni" "$NODE_DIR/pki"
    cat >"$NODE_DIR/containerd.toml" <<TOML
version = 3
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
[grpc]
  address = "$NODE_DIR/containerd.sock"
[ttrpc]
  address = "$NODE_DIR/containerd.sock.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  # the kubelet asks -998 for sandboxes and -997 for Guaranteed pods; here a process cannot lower
  # its oom_score_adj below its own (0), and runc fails with "can't get final child's PID from
  # pipe: EOF" (nsexec: "failed to update /proc/self/oom_score_adj: Permission denied")
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "$(command -v runc)"
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$NODE_DIR/cni"
TOML
    # a bridge inside the node's namespace; no default route (the pods reach the node, each
    # other and the Service range through the node, nothing else) and no masquerading
    cat >"$NODE_DIR/cni/10-gofast.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "gofast-node", "plugins": [
  {"type": "bridge", "bridge": "gofast0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET"}]], "routes": [{"dst": "$SERVICE_SUBNET"}]}},
  {"type": "loopback"}]}
JSON
    # the kubelet's serving certificate, from the test CA
    (
        cd "$NODE_DIR/pki" || exit 1
        openssl req -newkey rsa:2048 -nodes -keyout kubelet.key -out kubelet.csr -subj "/CN=$REAL_NODE"
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:$REAL_NODE" "extendedKeyUsage=serverAuth" >kubelet.ext
        openssl x509 -req -in kubelet.csr -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
            -out kubelet.crt -days 365 -extfile kubelet.ext
    ) >"$NODE_DIR/logs/pki.log" 2>&1
    # the admin credentials (system:masters): enough for a test node
    cp "$TESTENV_DIR/admin.kubeconfig" "$NODE_DIR/kubelet.kubeconfig"
    cat >"$NODE_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# this machine's cgroups are v1; kubelets from 1.35 on refuse v1 unless told
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$NODE_DIR/containerd.sock
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
tlsCertFile: $NODE_DIR/pki/kubelet.crt
tlsPrivateKeyFile: $NODE_DIR/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
# no DNS for pods: no cluster DNS and an empty resolv.conf
resolvConf: ""
failSwapOn: false
# other tests share this control plane and expect kwok's node: nothing lands here unless it asks
registerWithTaints:
- {key: gofast.dev/real-node, value: "true", effect: NoSchedule}
podLogsDir: $NODE_DIR/pod-logs
# the shared disk is often > 90 % full; the node must not evict for that
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML
}

load_control_plane() {
    [[ -f "$CACHE/state" ]] || die "the test control plane is not running: scripts/kube-testenv.sh start"
    # shellcheck disable=SC1091
    source "$CACHE/state"
    [[ "${READY:-0}" == 1 ]] || die "the test control plane is not ready: scripts/kube-testenv.sh start"
    PKI="$TESTENV_DIR/pki"
}

cmd_node_start() {
    [[ "$(id -u)" == 0 ]] || die "run as root (network namespace, containerd, kubelet)"
    load_control_plane
    if [[ -f "$NODE_STATE" ]]; then
        # idempotent, like kube-testenv.sh start: a node that is up and Ready stays
        # shellcheck disable=SC1090
        if (source "$NODE_STATE" && [[ "${READY:-0}" == 1 && -d "/proc/${NODEPID_kubelet:-0}" ]]) && node_ready; then
            log "node $REAL_NODE is already running and Ready"
            return 0
        fi
        die "a node is left over from an earlier start: scripts/kube-node.sh stop"
    fi
    local c
    for c in runc socat nsenter ip jq openssl curl; do
        command -v "$c" >/dev/null || die "$c is missing (apt-get install -y runc socat)"
    done
    [[ -x /usr/lib/cni/bridge ]] || die "the CNI plugins are missing: apt-get install -y containernetworking-plugins"
    if ip netns list | grep -qw "$NETNS"; then
        # a node killed without `stop` (its processes ended with a session) leaves the namespace;
        # one with no process in it runs nothing, so it is removed, never one that is in use
        [[ -z "$(ip netns pids "$NETNS" 2>/dev/null)" ]] ||
            die "network namespace $NETNS is in use by another node (another clone's?): stop that one first"
        log "removing the empty network namespace $NETNS left over from a node that was not stopped"
        ip netns del "$NETNS"
    fi
    # a kubelet adopts an existing Node of its name: never kwok's (its pods would be ours)
    if api GET "/api/v1/nodes/$REAL_NODE" 2>/dev/null | jq -e '.metadata.annotations["kwok.x-k8s.io/node"]' >/dev/null; then
        die "Node $REAL_NODE is kwok's; refusing to start a kubelet with that name"
    fi
    GOFAST_NODE_BUILD="kubelet containerd" cmd_build
    local started=$SECONDS
    NODE_DIR="$(mktemp -d /tmp/gofast-node-XXXXXX)"
    mkdir -p "$NODE_DIR/logs"
    touch "$NODE_DIR/started" # stop removes the cni-* network namespaces newer than this
    node_save "NODE_DIR=$NODE_DIR" "NETNS=$NETNS"
    trap 'log "start failed; logs in $NODE_DIR/logs (scripts/kube-node.sh stop cleans up)"; tail -n 20 "$NODE_DIR"/logs/*.log >&2' ERR
    KUBELET_PORT="$("$BIN/testenvctl" freeport 1)"
    node_save "KUBELET_PORT=$KUBELET_PORT"

    # the namespace: only lo (up); the pods' bridge appears with the first pod
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
    # the apiserver and the kubelet reach each other on their own 127.0.0.1 through unix
    # sockets, so the namespace needs no link and no route to the host
    node_bg bridge-api-host socat "UNIX-LISTEN:$NODE_DIR/api.sock,fork" "TCP:127.0.0.1:$APISERVER_PORT"
    # on every address of the namespace (lo, and the pods' bridge once it exists): pods with a
    # service-account token reach the API as in-cluster clients do, at the `kubernetes` Service
    node_bg bridge-api-node "${NSENTER[@]}" socat "TCP-LISTEN:$APISERVER_PORT,fork,reuseaddr" "UNIX-CONNECT:$NODE_DIR/api.sock"
    # a one-rule kube-proxy: the `kubernetes` Service's ClusterIP (a SAN of the apiserver's
    # certificate) to that bridge; no other Service has a ClusterIP that carries traffic
    "${NSENTER[@]}" iptables -t nat -A PREROUTING -d "$KUBERNETES_SERVICE_IP/32" -p tcp --dport 443 \
        -j DNAT --to-destination "$POD_GATEWAY:$APISERVER_PORT"
    node_bg bridge-kubelet-node "${NSENTER[@]}" socat "UNIX-LISTEN:$NODE_DIR/kubelet.sock,fork" "TCP:127.0.0.1:$KUBELET_PORT"
    node_bg bridge-kubelet-host socat "TCP-LISTEN:$KUBELET_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$NODE_DIR/kubelet.sock"

    write_node_configs
    node_bg containerd "${NSENTER[@]}" env PATH="$BIN:$PATH" "$BIN/containerd" --config "$NODE_DIR/containerd.toml"
    local ctr=("$BIN/ctr" -a "$NODE_DIR/containerd.sock" -n k8s.io)
    wait_for containerd "${ctr[@]}" version
    build_pause_image
    "${ctr[@]}" images import "$NODE_DIR/pause.oci.tar" >"$NODE_DIR/logs/import.log"
    if [[ -f "$RUNNER_IMAGE_TAR" ]]; then
        "${ctr[@]}" images import "$RUNNER_IMAGE_TAR" >>"$NODE_DIR/logs/import.log"
    else
        log "no runner image yet ($RUNNER_IMAGE_TAR): scripts/runner-image.sh build, then stop and start the node"
    fi

    node_bg kubelet "${NSENTER[@]}" "$BIN/kubelet" --config="$NODE_DIR/kubelet.yaml" \
        --kubeconfig="$NODE_DIR/kubelet.kubeconfig" --hostname-override="$REAL_NODE" --node-ip=127.0.0.1 \
        --root-dir="$NODE_DIR/kubelet" --cert-dir="$NODE_DIR/pki" --v=1
    wait_for "node $REAL_NODE registered" api GET "/api/v1/nodes/$REAL_NODE"
    # the kubelet refuses a loopback node IP ("failed to validate nodeIP: nodeIP can't be loopback
    # address") and then sets no address at all; it leaves one set here alone. The apiserver
    # reaches the kubelet (logs, exec) at 127.0.0.1:$KUBELET_PORT through the socket bridge.
    api PATCH "/api/v1/nodes/$REAL_NODE/status" -H 'Content-Type: application/merge-patch+json' \
        -d "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"},{\"type\":\"Hostname\",\"address\":\"$REAL_NODE\"}]}}" >/dev/null
    wait_for "node $REAL_NODE Ready" node_ready
    trap - ERR
    node_save "READY=1"
    log "node $REAL_NODE Ready in $((SECONDS - started))s (kubelet on 127.0.0.1:$KUBELET_PORT, network namespace $NETNS, dir $NODE_DIR)"
}

cmd_node_smoke() { # a hardened pod with the runner image runs on the node; its log comes back
    load_control_plane
    [[ -f "$NODE_STATE" ]] || die "no node: scripts/kube-node.sh start"
    local name="gofast-node-smoke-$RANDOM" img pod
    img="$("$ROOT/scripts/runner-image.sh" name)"
    pod="$(jq -n --arg n "$name" --arg node "$REAL_NODE" --arg img "$img" '{
      apiVersion: "v1", kind: "Pod", metadata: {name: $n},
      spec: {nodeName: $node, restartPolicy: "Never", automountServiceAccountToken: false,
        tolerations: [{key: "gofast.dev/real-node", operator: "Exists", effect: "NoSchedule"}],
        securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001},
        containers: [{name: "app", image: $img, imagePullPolicy: "Never",
          command: ["python", "-I", "-c", "import os, sys, fastapi; print(\"smoke ok\", os.getuid(), sys.version.split()[0], fastapi.__version__, repr(open(\"/etc/resolv.conf\").read()))"],
          securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: ["ALL"]}},
          resources: {limits: {memory: "128Mi", cpu: "500m"}}}]}}')"
    api POST /api/v1/namespaces/default/pods -H 'Content-Type: application/json' -d "$pod" >/dev/null
    local phase="" deadline=$((SECONDS + TIMEOUT)) started=$SECONDS
    while ((SECONDS < deadline)); do
        phase="$(api GET "/api/v1/namespaces/default/pods/$name" | jq -r .status.phase)"
        [[ "$phase" == Succeeded || "$phase" == Failed ]] && break
        sleep 0.5
    done
    local out
    out="$(api GET "/api/v1/namespaces/default/pods/$name/log" || true)"
    [[ "$phase" == Succeeded ]] || api GET "/api/v1/namespaces/default/pods/$name" | jq .status >&2 || true
    api DELETE "/api/v1/namespaces/default/pods/$name" >/dev/null || true
    log "pod $name: phase $phase after $((SECONDS - started))s, log: $out"
    [[ "$phase" == Succeeded && "$out" == "smoke ok 10001 "* ]] || die "the smoke pod did not run as expected"
    log "smoke ok: a hardened pod with the runner image ran on $REAL_NODE; its log came back through the apiserver"
}

cmd_node_traefik() { # Traefik in the node's namespace (it reaches the pods), web entrypoint bridged to the host
    load_control_plane
    [[ -f "$NODE_STATE" ]] || die "no node: scripts/kube-node.sh start"
    # shellcheck disable=SC1090
    source "$NODE_STATE"
    if [[ -n "${NODEPID_traefik:-}" ]]; then
        curl -fsS --max-time 2 "http://127.0.0.1:$TRAEFIK_API_PORT/ping" >/dev/null 2>&1 ||
            die "Traefik was started (pid $NODEPID_traefik) but does not answer: scripts/kube-node.sh stop, then start again"
        log "Traefik is already running: web http://127.0.0.1:$TRAEFIK_WEB_PORT"
        return 0
    fi
    GOFAST_NODE_BUILD=traefik cmd_build
    local ports
    mapfile -t ports < <("$BIN/testenvctl" freeport 2)
    TRAEFIK_WEB_PORT=${ports[0]} TRAEFIK_API_PORT=${ports[1]}
    node_save "TRAEFIK_WEB_PORT=$TRAEFIK_WEB_PORT" "TRAEFIK_API_PORT=$TRAEFIK_API_PORT"
    # the admin token; Traefik reads IngressRoutes/Middlewares/Services/EndpointSlices with it.
    # Both entry points listen on every address of the namespace: pods reach them at
    # $POD_GATEWAY (the chart's control plane reads the metrics, its test pod the web entry
    # point), the host through the socket bridges.
    node_bg traefik "${NSENTER[@]}" "$BIN/traefik" \
        --global.checkNewVersion=false --global.sendAnonymousUsage=false \
        --entryPoints.web.address=":$TRAEFIK_WEB_PORT" \
        --entryPoints.traefik.address=":$TRAEFIK_API_PORT" \
        --api=true --api.insecure=true --api.dashboard=false --ping=true --metrics.prometheus=true \
        --providers.kubernetescrd=true \
        --providers.kubernetescrd.endpoint="https://127.0.0.1:$APISERVER_PORT" \
        --providers.kubernetescrd.token="$(cat "$TESTENV_DIR/token")" \
        --providers.kubernetescrd.certAuthFilePath="$PKI/ca.crt" \
        --log.level=INFO --log.filePath="$NODE_DIR/logs/traefik-file.log"
    local p
    for p in web api; do
        local port_var="TRAEFIK_${p^^}_PORT"
        node_bg "bridge-traefik-$p-node" "${NSENTER[@]}" socat "UNIX-LISTEN:$NODE_DIR/traefik-$p.sock,fork" "TCP:127.0.0.1:${!port_var}"
        node_bg "bridge-traefik-$p-host" socat "TCP-LISTEN:${!port_var},bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$NODE_DIR/traefik-$p.sock"
    done
    wait_for "Traefik's ping" curl -fsS --max-time 2 "http://127.0.0.1:$TRAEFIK_API_PORT/ping"
    log "Traefik $("$BIN/traefik" version | awk '/^Version/{print $2}') up: web http://127.0.0.1:$TRAEFIK_WEB_PORT, API/metrics http://127.0.0.1:$TRAEFIK_API_PORT (in namespace $NETNS)"
}

cmd_node_route_smoke() { # a runner pod with a FastAPI app answers through Traefik under its prefix
    load_control_plane
    # shellcheck disable=SC1090
    source "$NODE_STATE"
    [[ -n "${TRAEFIK_WEB_PORT:-}" ]] || die "Traefik is not started: scripts/kube-node.sh traefik"
    # a prefix of its own: a previous run's route may still exist while its namespace goes away
    local n=$RANDOM
    local ns="gofast-node-route-$n" prefix="/user/u$n/app/a1" img
    img="$("$ROOT/scripts/runner-image.sh" name)"
    local app='from fastapi import FastAPI
app = FastAPI()
@app.get("/")
def root():
    return {"hello": "from the real node"}
'
    local objs
    objs="$(jq -n --arg ns "$ns" --arg node "$REAL_NODE" --arg img "$img" --arg app "$app" --arg prefix "$prefix" '[
      {apiVersion: "v1", kind: "Namespace", metadata: {name: $ns}},
      {apiVersion: "v1", kind: "ConfigMap", metadata: {name: "app", namespace: $ns}, data: {"main.py": $app}},
      {apiVersion: "v1", kind: "Pod", metadata: {name: "app", namespace: $ns, labels: {app: "a1"}},
       spec: {nodeName: $node, automountServiceAccountToken: false,
         tolerations: [{key: "gofast.dev/real-node", operator: "Exists", effect: "NoSchedule"}],
         securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001},
         volumes: [{name: "app", configMap: {name: "app"}}, {name: "tmp", emptyDir: {medium: "Memory", sizeLimit: "16Mi"}}],
         containers: [{name: "app", image: $img, imagePullPolicy: "Never",
           env: [{name: "GOFAST_ROOT_PATH", value: $prefix}],
           ports: [{containerPort: 8000}],
           readinessProbe: {httpGet: {path: "/health", port: 8000}, periodSeconds: 1},
           volumeMounts: [{name: "app", mountPath: "/app", readOnly: true}, {name: "tmp", mountPath: "/tmp"}],
           securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: ["ALL"]}},
           resources: {limits: {memory: "256Mi", cpu: "500m"}}}]}},
      {apiVersion: "v1", kind: "Service", metadata: {name: "app", namespace: $ns},
       spec: {selector: {app: "a1"}, ports: [{name: "http", port: 80, targetPort: 8000}]}},
      {apiVersion: "traefik.io/v1alpha1", kind: "Middleware", metadata: {name: "strip", namespace: $ns},
       spec: {stripPrefix: {prefixes: [$prefix]}}},
      {apiVersion: "traefik.io/v1alpha1", kind: "IngressRoute", metadata: {name: "app", namespace: $ns},
       spec: {entryPoints: ["web"], routes: [{kind: "Rule", match: ("PathPrefix(`" + $prefix + "/`)"),
         middlewares: [{name: "strip"}], services: [{name: "app", port: 80}]}]}}
    ]')"
    obj_path() { # object -> its collection path
        local kind ns
        kind="$(jq -r .kind <<<"$1")"; ns="$(jq -r '.metadata.namespace // ""' <<<"$1")"
        case "$kind" in
            Namespace) echo /api/v1/namespaces;;
            ConfigMap|Pod|Service) echo "/api/v1/namespaces/$ns/${kind,,}s";;
            Middleware|IngressRoute) echo "/apis/traefik.io/v1alpha1/namespaces/$ns/${kind,,}s";;
        esac
    }
    local o
    while read -r o; do
        api POST "$(obj_path "$o")" -H 'Content-Type: application/json' -d "$o" >/dev/null
    done < <(jq -c '.[]' <<<"$objs")
    local started=$SECONDS url="http://127.0.0.1:$TRAEFIK_WEB_PORT$prefix"
    local rc=0 body="" docs="" openapi=""
    if wait_for "the app through Traefik" curl -fsS --max-time 2 "$url/"; then
        body="$(curl -fsS --max-time 5 "$url/")"
        docs="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/docs")"
        openapi="$(curl -fsS --max-time 5 "$url/openapi.json" | jq -c '.servers // "no servers"')"
        log "through Traefik after $((SECONDS - started))s: GET $prefix/ -> $body; /docs -> $docs; /openapi.json servers -> $openapi"
        [[ "$body" == *'"from the real node"'* && "$docs" == 200 ]] || rc=1
    else
        rc=1
        api GET "/api/v1/namespaces/$ns/pods/app" | jq -c '.status | {phase, podIP, c: .containerStatuses}' >&2 || true
        curl -fsS "http://127.0.0.1:$TRAEFIK_API_PORT/api/http/routers" >&2 || true
    fi
    api DELETE "/api/v1/namespaces/$ns" >/dev/null || true
    ((rc == 0)) || die "the app did not answer through Traefik as expected"
    log "route smoke ok"
}

cmd_node_import() { # file: an OCI image tar into the node's containerd
    local file="${1:-}"
    [[ -f "$file" ]] || die "usage: $0 import IMAGE.oci.tar"
    [[ -f "$NODE_STATE" ]] || die "no node: scripts/kube-node.sh start"
    # shellcheck disable=SC1090
    source "$NODE_STATE"
    "$BIN/ctr" -a "$NODE_DIR/containerd.sock" -n k8s.io images import "$file" >&2
}

cmd_node_expose() { # port: the host's 127.0.0.1:port for the node's pods, at $POD_GATEWAY:port
    local port="${1:-}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "usage: $0 expose PORT"
    [[ -f "$NODE_STATE" ]] || die "no node: scripts/kube-node.sh start"
    # shellcheck disable=SC1090
    source "$NODE_STATE"
    if [[ -n "$(eval "echo \${NODEPID_expose_${port}_node:-}")" ]]; then
        log "127.0.0.1:$port is already exposed to the pods"
        return 0
    fi
    node_bg "expose-$port-host" socat "UNIX-LISTEN:$NODE_DIR/expose-$port.sock,fork" "TCP:127.0.0.1:$port"
    node_bg "expose-$port-node" "${NSENTER[@]}" socat "TCP-LISTEN:$port,fork,reuseaddr" "UNIX-CONNECT:$NODE_DIR/expose-$port.sock"
    log "pods reach this machine's 127.0.0.1:$port at $POD_GATEWAY:$port"
}

cmd_chart_test() { # mongodb-uri: install the chart on the node, `helm test`, uninstall
    local uri="${1:-}"
    [[ "$uri" =~ ^mongodb://127\.0\.0\.1:([0-9]+)(/.*)?$ ]] ||
        die "usage: $0 chart-test mongodb://127.0.0.1:PORT[/...] (e.g. scripts/ferretdb.sh start)"
    local mongo_port="${BASH_REMATCH[1]}"
    load_control_plane
    [[ -f "$NODE_STATE" ]] || die "no node: scripts/kube-node.sh start"
    # shellcheck disable=SC1090
    source "$NODE_STATE"
    [[ -n "${TRAEFIK_WEB_PORT:-}" ]] || die "Traefik is not started: scripts/kube-node.sh traefik"
    GOFAST_NODE_BUILD=helm cmd_build
    "$ROOT/scripts/controlplane-image.sh" ensure
    "$ROOT/scripts/controlplane-image.sh" check
    cmd_node_import "$ROOT/.cache/controlplane-image/controlplane.oci.tar" >/dev/null
    cmd_node_expose "$mongo_port"
    local release="gofast-chart" ns="gofast-chart" apps_ns="gofast-chart-apps" started=$SECONDS
    local cp_image runner_image traefik="$POD_GATEWAY:$TRAEFIK_WEB_PORT"
    cp_image="$("$ROOT/scripts/controlplane-image.sh" name)"
    runner_image="$("$ROOT/scripts/runner-image.sh" name)"
    local helm=("$BIN/helm" --kubeconfig "$CACHE/kubeconfig")
    # everything on the real node (its taint tolerated), images imported (never pulled), MongoDB
    # at the pods' gateway, the test pod talking to Traefik there with the platform's Host header
    cat >"$NODE_DIR/chart-values.yaml" <<YAML
publicUrl: http://gofast.test
appsUrl: http://apps.gofast.test
trustedProxies: ["$POD_GATEWAY/32"]
controlplane:
  image: {repository: "${cp_image%:*}", tag: "${cp_image##*:}", pullPolicy: Never}
  replicas: 1
  logLevel: "gofast_controlplane=debug,info"
  nodeSelector: {kubernetes.io/hostname: $REAL_NODE}
  tolerations: [{key: gofast.dev/real-node, operator: Exists, effect: NoSchedule}]
runner:
  image: {repository: "${runner_image%:*}", tag: "${runner_image##*:}"}
apps:
  namespace: $apps_ns
  imagePullPolicy: Never
  nodeSelector: {kubernetes.io/hostname: $REAL_NODE}
  tolerations: ["gofast.dev/real-node:NoSchedule"]
  sleepAfter: 5s
ingress: {host: gofast.test, appsHost: apps.gofast.test}
mongodb: {uri: "mongodb://$POD_GATEWAY:$mongo_port/gofast-chart-$RANDOM"}
traefik:
  metricsUrl: "http://$POD_GATEWAY:$TRAEFIK_API_PORT/metrics"
  metricsPort: $TRAEFIK_API_PORT
  apiUrl: "http://$POD_GATEWAY:$TRAEFIK_API_PORT"
  apiPort: $TRAEFIK_API_PORT
  routeProbeUrl: "http://$traefik"
  webPort: $TRAEFIK_WEB_PORT
tests:
  url: http://$traefik
  host: gofast.test
  appsAddress: $traefik
  wake: true
  nodeSelector: {kubernetes.io/hostname: $REAL_NODE}
  tolerations: [{key: gofast.dev/real-node, operator: Exists, effect: NoSchedule}]
YAML
    local rc=0
    if "${helm[@]}" install "$release" "$ROOT/helm/gofast" -n "$ns" --create-namespace \
        -f "$NODE_DIR/chart-values.yaml" --wait --timeout 5m >"$NODE_DIR/logs/helm-install.log" 2>&1; then
        log "chart installed in $((SECONDS - started))s"
        "${helm[@]}" test "$release" -n "$ns" --logs --timeout 5m >&2 || rc=1
    else
        rc=1
        cat "$NODE_DIR/logs/helm-install.log" >&2
    fi
    if ((rc != 0)); then
        api GET "/api/v1/namespaces/$ns/pods" | jq -c '.items[] | {n: .metadata.name, s: .status.phase, c: .status.containerStatuses}' >&2 || true
        local pod
        for pod in $(api GET "/api/v1/namespaces/$ns/pods" | jq -r '.items[].metadata.name'); do
            api GET "/api/v1/namespaces/$ns/pods/$pod/log?tailLines=40" >&2 || true
        done
    fi
    "${helm[@]}" uninstall "$release" -n "$ns" --wait --timeout 2m >/dev/null 2>&1 || true
    api DELETE "/api/v1/namespaces/$apps_ns" >/dev/null 2>&1 || true
    api DELETE "/api/v1/namespaces/$ns" >/dev/null 2>&1 || true
    ((rc == 0)) || die "the chart's helm test failed"
    log "chart test ok in $((SECONDS - started))s: installed, helm test passed, uninstalled"
}

node_kill() { # pid: SIGTERM, only if its command line names this node's temp dir
    local pid="$1"
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$NODE_DIR"; then
        kill -TERM "$pid" 2>/dev/null || true
        local n=0
        while [[ -d "/proc/$pid" ]] && ((n < 50)); do sleep 0.1; n=$((n + 1)); done
        if [[ -d "/proc/$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
}

cmd_node_stop() {
    [[ -f "$NODE_STATE" ]] || { log "no node"; return 0; }
    # shellcheck disable=SC1090
    source "$NODE_STATE"
    local v
    if [[ -f "$CACHE/state" ]]; then
        # shellcheck disable=SC1091
        source "$CACHE/state"; PKI="$TESTENV_DIR/pki"
        # the node's pods first, while its kubelet still runs: it tears their sandboxes down (CNI
        # DEL, the pods' network namespaces), and no pod is left Terminating on a Node that is gone
        local pods
        pods="$(api GET "/api/v1/pods?fieldSelector=spec.nodeName=$REAL_NODE" 2>/dev/null |
            jq -r '.items[].metadata | "\(.namespace)/\(.name)"' || true)"
        for v in $pods; do
            api DELETE "/api/v1/namespaces/${v%%/*}/pods/${v#*/}?gracePeriodSeconds=0" >/dev/null 2>&1 || true
        done
        if [[ -n "$pods" && -S "$NODE_DIR/containerd.sock" ]]; then
            local n=0
            while [[ -n "$("$BIN/ctr" -a "$NODE_DIR/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null)" ]] && ((n < 60)); do
                sleep 0.5; n=$((n + 1))
            done
        fi
    fi
    # the kubelet, then what is left of the containers (their shims outlive containerd), then containerd
    node_kill "${NODEPID_kubelet:-}"
    if [[ -S "$NODE_DIR/containerd.sock" ]]; then
        local ctr=("$BIN/ctr" -a "$NODE_DIR/containerd.sock" -n k8s.io) t
        for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
        sleep 1
        for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks delete -f "$t" >/dev/null 2>&1 || true; done
        for t in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers delete "$t" >/dev/null 2>&1 || true; done
    fi
    for v in $(compgen -v NODEPID_); do # containerd, Traefik, the socket bridges
        [[ "$v" != NODEPID_kubelet ]] || continue
        node_kill "${!v:-}"
    done
    # shims of this node's containerd (their command line names its socket under $NODE_DIR)
    local p
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "containerd-shim-runc-v2 .*$NODE_DIR"; then
            kill -KILL "${p#/proc/}" 2>/dev/null || true
        fi
    done
    sleep 1
    # pods' network namespaces that this containerd made and did not remove (only it makes cni-*
    # namespaces on this machine, and only after the node's temp dir existed)
    if [[ -n "${NODE_DIR:-}" && -f "$NODE_DIR/started" ]]; then
        find /run/netns -maxdepth 1 -name 'cni-*' -newer "$NODE_DIR/started" -printf '%f\n' 2>/dev/null |
            while read -r v; do ip netns del "$v" 2>/dev/null || true; done
    fi
    if [[ -n "${NODE_DIR:-}" && "$NODE_DIR" == /tmp/gofast-node-* ]]; then
        awk -v d="$NODE_DIR" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
        rm -rf "$NODE_DIR"
    fi
    ip netns del "${NETNS:-gofast-node}" 2>/dev/null || true
    # the kubelet's cgroups (cgroupfs driver), deepest first; rmdir only removes empty ones
    find /sys/fs/cgroup/*/kubepods -depth -type d -exec rmdir {} + 2>/dev/null || true
    if [[ -f "$CACHE/state" ]]; then # the Node object the kubelet registered
        if ! api GET "/api/v1/nodes/$REAL_NODE" 2>/dev/null | jq -e '.metadata.annotations["kwok.x-k8s.io/node"]' >/dev/null; then
            api DELETE "/api/v1/nodes/$REAL_NODE" >/dev/null 2>&1 || true
        fi
    fi
    rm -f "$NODE_STATE"
    log "node stopped"
}

# in a function, and exit on the same line: bash reads a script as it runs, so a long build must
# not pick up an edit of this file made meanwhile
main() {
    case "${1:-}" in
        deps) cmd_deps;;
        build) mkdir -p "$CACHE"; exec 8>"$CACHE/node-build.lock"; flock 8; cmd_build; log "binaries in $BIN";;
        start) mkdir -p "$CACHE"; exec 8>"$CACHE/node.lock"; flock 8; cmd_node_start;;
        smoke) cmd_node_smoke;;
        traefik) cmd_node_traefik;;
        route-smoke) cmd_node_route_smoke;;
        import) cmd_node_import "${2:-}";;
        expose) cmd_node_expose "${2:-}";;
        chart-test) cmd_chart_test "${2:-}";;
        stop) cmd_node_stop;;
        versions) echo "kubelet $KUBE_VERSION"; echo "containerd $CONTAINERD_VERSION"
            echo "traefik $(mod_version github.com/traefik/traefik/v3 "$TESTENV/traefik") (CRDs: $TRAEFIK_VERSION)";;
        *) echo "usage: $0 deps|build|start|smoke|traefik|route-smoke|import|expose|chart-test|stop|versions" >&2; exit 2;;
    esac
}

main "$@"; exit $?
