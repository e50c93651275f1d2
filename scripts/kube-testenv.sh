#!/usr/bin/env bash
# A real Kubernetes control plane without a kubelet, on 127.0.0.1, for gofast's
# Kubernetes runtime tests: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler (all built from the Go module proxy, see testenv/README.md), kwok
# simulating one Node, and Traefik's CRDs.
#
#   scripts/kube-testenv.sh build    build the binaries (cached in .cache/kube/bin)
#   scripts/kube-testenv.sh start    build (cached), start everything, wait until ready,
#                                    write .cache/kube/kubeconfig, print `export KUBECONFIG=...`
#                                    (no-op when it is already running)
#   scripts/kube-testenv.sh env      print `export KUBECONFIG=...` (exit 1 if not running)
#   scripts/kube-testenv.sh status   show processes, ports and the temp dir
#   scripts/kube-testenv.sh stop     kill everything and remove the temp dir
#
# Environment:
#   GOFAST_KUBE_ETCD=build|system       etcd binary: build (default) = etcd v3.6 built from
#                                       go.etcd.io/etcd/server/v3 (testenv/etcd); system = the etcd
#                                       on PATH (Debian's etcd-server 3.4.23: see testenv/README.md,
#                                       kube-apiserver 1.36's watch cache stalls with it)
#   GOFAST_KUBE_TIMEOUT=180             seconds to wait for each readiness step
set -eEuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTENV="$ROOT/testenv"
CACHE="$ROOT/.cache/kube"
BIN="$CACHE/bin"
STATE="$CACHE/state"
KUBECONFIG_OUT="$CACHE/kubeconfig"
TOKEN_OUT="$CACHE/token"
BUILD_LOG="$CACHE/build.log"
BUILD_TIMES="$CACHE/build-times"

# The CRDs of the Traefik that kube-node.sh builds (testenv/traefik/go.mod): the newest release
# whose whole build list the Go module proxy serves here (v3.7.13's is not; testenv/README.md).
TRAEFIK_VERSION="v3.6.12"
TRAEFIK_CRD_FILE="docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"
SERVICE_CIDR="10.96.0.0/16"
SERVICE_IP="10.96.0.1"
POD_CIDR="10.244.0.1/16"
NODE_NAME="kwok-node-0"
TIMEOUT="${GOFAST_KUBE_TIMEOUT:-180}"
ETCD_MODE="${GOFAST_KUBE_ETCD:-build}"

export GOTOOLCHAIN=local
GO_BUILD_FLAGS="-mod=mod -buildvcs=false"

log() { echo "kube-testenv: $*" >&2; }
die() { log "error: $*"; exit 1; }

mod_version() { # module go.mod-dir -> version required in that go.mod
    awk -v m="$1" '$1==m && $2 ~ /^v/ {print $2; exit}' "$2/go.mod"
}

KUBE_VERSION="$(mod_version k8s.io/kubernetes "$TESTENV")"
KWOK_VERSION="$(mod_version sigs.k8s.io/kwok "$TESTENV")"
ETCD_BUILD_VERSION="$(mod_version go.etcd.io/etcd/server/v3 "$TESTENV/etcd")"
[[ -n "$KUBE_VERSION" && -n "$KWOK_VERSION" && -n "$ETCD_BUILD_VERSION" ]] || die "cannot read versions from testenv/go.mod"

# ---------------------------------------------------------------------------------------------
# build (cached: a binary is rebuilt only when its version stamp changes)

stamp_of() { # name version extra...
    echo "$* $(go env GOVERSION)"
}

build_one() { # name moddir package stamp ldflags
    local name="$1" moddir="$2" pkg="$3" stamp="$4" ldflags="$5"
    if [[ -x "$BIN/$name" && -f "$BIN/$name.stamp" && "$(cat "$BIN/$name.stamp")" == "$stamp" ]]; then
        return 0
    fi
    log "building $name ($pkg) — the first build of the kube binaries takes a long time; log: $BUILD_LOG"
    local start=$SECONDS
    if ! (cd "$moddir" && echo "== $(date -Is) go build $pkg" &&
          GOFLAGS="$GO_BUILD_FLAGS" nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$BIN/$name.tmp" "$pkg") \
          >>"$BUILD_LOG" 2>&1; then
        tail -n 30 "$BUILD_LOG" >&2
        die "building $name failed (command: cd $moddir && GOFLAGS='$GO_BUILD_FLAGS' go build -trimpath -ldflags='$ldflags' -o $BIN/$name $pkg)"
    fi
    mv -f "$BIN/$name.tmp" "$BIN/$name"
    echo "$stamp" >"$BIN/$name.stamp"
    local took=$((SECONDS - start))
    echo "$(date -Is) $name $took s ($stamp)" >>"$BUILD_TIMES"
    log "built $name in ${took}s"
}

etcd_binary() { # prints the etcd binary to use
    case "$ETCD_MODE" in
        build) echo "$BIN/etcd";;
        system) log "warning: GOFAST_KUBE_ETCD=system: with Debian's etcd 3.4.23, kube-apiserver $KUBE_VERSION starts but its watches stall (see testenv/README.md)"
            command -v etcd || die "GOFAST_KUBE_ETCD=system but no etcd on PATH (apt-get install -y etcd-server)";;
        *) die "GOFAST_KUBE_ETCD must be build or system";;
    esac
}

cmd_build() {
    command -v go >/dev/null || die "go is not installed"
    mkdir -p "$BIN"
    local kv="k8s.io/component-base/version"
    local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
    local kube_ld="-s -w -X $kv.gitVersion=$KUBE_VERSION -X $kv.gitMajor=1 -X $kv.gitMinor=$minor -X $kv.gitTreeState=clean"
    local c
    for c in kube-apiserver kube-controller-manager kube-scheduler; do
        build_one "$c" "$TESTENV" "k8s.io/kubernetes/cmd/$c" "$(stamp_of "$c" "$KUBE_VERSION" "$kube_ld")" "$kube_ld"
    done
    local kwok_ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
    build_one kwok "$TESTENV" sigs.k8s.io/kwok/cmd/kwok "$(stamp_of kwok "$KWOK_VERSION" "$kwok_ld")" "$kwok_ld"
    # the helper: stamp on its sources and the module files
    local src_sum
    src_sum="$(cat "$TESTENV"/go.mod "$TESTENV"/go.sum "$TESTENV"/cmd/testenvctl/* | sha256sum | cut -c1-16)"
    build_one testenvctl "$TESTENV" ./cmd/testenvctl "$(stamp_of testenvctl "$src_sum")" "-s -w"
    if [[ "$(etcd_binary)" == "$BIN/etcd" ]]; then
        local etcd_ld="-s -w"
        build_one etcd "$TESTENV/etcd" go.etcd.io/etcd/server/v3 "$(stamp_of etcd "$ETCD_BUILD_VERSION" "$etcd_ld")" "$etcd_ld"
    fi
}

# ---------------------------------------------------------------------------------------------
# state

load_state() { # sets the variables of the state file; returns 1 when there is none
    [[ -f "$STATE" ]] || return 1
    # shellcheck disable=SC1090
    source "$STATE"
}

pid_alive() { # pid binary-path: alive and really running that binary
    local pid="$1" exe="$2"
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    local cmd
    cmd="$( (tr '\0' ' ' <"/proc/$pid/cmdline") 2>/dev/null || true)"
    [[ "$cmd" == "$exe"* ]]
}

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

pid_var() { # component -> state variable holding its pid
    local v="${1//-/_}"; echo "PID_${v^^}"
}
exe_var() { local v="${1//-/_}"; echo "EXE_${v^^}"; }

is_running() {
    load_state || return 1
    [[ "${READY:-0}" == 1 ]] || return 1
    local c pv ev
    for c in "${COMPONENTS[@]}"; do
        pv="$(pid_var "$c")"; ev="$(exe_var "$c")"
        pid_alive "${!pv:-}" "${!ev:-}" || return 1
    done
    curl -fsS --max-time 5 --cacert "$TESTENV_DIR/pki/ca.crt" -H "Authorization: Bearer $(cat "$TESTENV_DIR/token")" \
        "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1
}

save_state() { # KEY=VALUE... appended to the state file
    local kv
    for kv in "$@"; do printf '%s\n' "$kv" >>"$STATE"; done
}

# ---------------------------------------------------------------------------------------------
# start

start_component() { # name exe args... ; runs detached in its own session, logs to $TESTENV_DIR/logs
    local name="$1" exe="$2"; shift 2
    # 9>&-: the daemons must not inherit the lock on .cache/kube/lock
    setsid "$exe" "$@" >"$TESTENV_DIR/logs/$name.log" 2>&1 </dev/null 9>&- &
    local pid=$!
    save_state "$(pid_var "$name")=$pid" "$(exe_var "$name")=$exe"
    sleep 0.3
    if ! pid_alive "$pid" "$exe"; then
        tail -n 30 "$TESTENV_DIR/logs/$name.log" >&2 || true
        return 1
    fi
    log "started $name (pid $pid)"
}

wait_http() { # url what [curl args...]
    local url="$1" what="$2"; shift 2
    local deadline=$((SECONDS + TIMEOUT))
    until curl -fsS --max-time 2 "$@" "$url" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { log "timed out waiting for $what ($url)"; return 1; }
        sleep 0.3
    done
}

gen_pki() {
    local d="$TESTENV_DIR/pki"
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=gofast-testenv-ca" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
        openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver"
        printf '%s\n' \
            "subjectAltName=IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
            "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" "authorityKeyIdentifier=keyid" "subjectKeyIdentifier=hash" >apiserver.ext
        openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile apiserver.ext
        openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=gofast-admin"
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=clientAuth" "authorityKeyIdentifier=keyid" "subjectKeyIdentifier=hash" >client.ext
        openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 -extfile client.ext
        # front proxy (request header) CA and client, as kubeadm sets them up
        openssl req -x509 -newkey rsa:2048 -nodes -keyout front-proxy-ca.key -out front-proxy-ca.crt -days 3650 \
            -subj "/CN=gofast-testenv-front-proxy-ca" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
        openssl req -newkey rsa:2048 -nodes -keyout front-proxy-client.key -out front-proxy-client.csr -subj "/CN=front-proxy-client"
        openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -CAcreateserial \
            -out front-proxy-client.crt -days 3650 -extfile client.ext
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
        openssl pkey -in sa.key -pubout -out sa.pub
    ) >"$TESTENV_DIR/logs/pki.log" 2>&1 || { cat "$TESTENV_DIR/logs/pki.log" >&2; return 1; }
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TESTENV_DIR/token"
    printf '%s,gofast-admin,gofast-admin,"system:masters"\n' "$(cat "$TESTENV_DIR/token")" >"$d/tokens.csv"
}

write_kubeconfig() { # file
    local b64="base64 -w0"
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gofast-testenv
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $($b64 "$TESTENV_DIR/pki/ca.crt")
users:
- name: gofast-admin
  user:
    client-certificate-data: $($b64 "$TESTENV_DIR/pki/admin.crt")
    client-key-data: $($b64 "$TESTENV_DIR/pki/admin.key")
- name: gofast-admin-token
  user:
    token: $(cat "$TESTENV_DIR/token")
contexts:
- name: gofast-testenv
  context:
    cluster: gofast-testenv
    user: gofast-admin
- name: gofast-testenv-token
  context:
    cluster: gofast-testenv
    user: gofast-admin-token
current-context: gofast-testenv
EOF
    chmod 600 "$1"
}

traefik_crds() { # prints the path of Traefik's CRD file in the module cache (downloads the module)
    local dir
    dir="$(cd /tmp && GOFLAGS= go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | jq -r .Dir)" ||
        die "go mod download github.com/traefik/traefik/v3@$TRAEFIK_VERSION failed"
    [[ -f "$dir/$TRAEFIK_CRD_FILE" ]] || die "$dir/$TRAEFIK_CRD_FILE is missing"
    echo "$dir/$TRAEFIK_CRD_FILE"
}

fail_start() {
    log "start failed; logs in $TESTENV_DIR/logs:"
    local f
    for f in "$TESTENV_DIR"/logs/*.log; do
        [[ -f "$f" ]] || continue
        echo "---- $f (last 15 lines)" >&2
        tail -n 15 "$f" >&2
    done
    rm -rf "$CACHE/failed-logs" && cp -r "$TESTENV_DIR/logs" "$CACHE/failed-logs" 2>/dev/null &&
        log "logs kept in $CACHE/failed-logs"
    if [[ -n "${KEEP_ON_FAILURE:-}" ]]; then
        log "KEEP_ON_FAILURE is set: leaving it running (scripts/kube-testenv.sh stop to clean up)"
    else
        cmd_stop
    fi
    exit 1
}

cmd_start() {
    mkdir -p "$CACHE"
    exec 9>"$CACHE/lock"
    flock 9
    if is_running; then
        log "already running (temp dir $TESTENV_DIR, apiserver https://127.0.0.1:$APISERVER_PORT)"
        echo "export KUBECONFIG=$KUBECONFIG_OUT"
        return 0
    fi
    if [[ -f "$STATE" ]]; then
        log "cleaning up a previous, not (fully) running environment"
        cmd_stop
    fi
    command -v openssl >/dev/null || die "openssl is required"
    command -v jq >/dev/null || die "jq is required"
    cmd_build
    local crd_file etcd_bin
    crd_file="$(traefik_crds)"
    etcd_bin="$(etcd_binary)"

    local started=$SECONDS
    TESTENV_DIR="$(mktemp -d /tmp/gofast-kube-XXXXXX)"
    mkdir -p "$TESTENV_DIR/logs"
    : >"$STATE"
    save_state "TESTENV_DIR=$TESTENV_DIR" "READY=0"
    trap fail_start ERR

    gen_pki
    local ports
    mapfile -t ports < <("$BIN/testenvctl" freeport 6)
    ETCD_PORT=${ports[0]} ETCD_PEER_PORT=${ports[1]} APISERVER_PORT=${ports[2]}
    KCM_PORT=${ports[3]} SCHEDULER_PORT=${ports[4]} KWOK_PORT=${ports[5]}
    save_state "ETCD_PORT=$ETCD_PORT" "ETCD_PEER_PORT=$ETCD_PEER_PORT" "APISERVER_PORT=$APISERVER_PORT" \
        "KCM_PORT=$KCM_PORT" "SCHEDULER_PORT=$SCHEDULER_PORT" "KWOK_PORT=$KWOK_PORT"
    local kc="$TESTENV_DIR/admin.kubeconfig" pki="$TESTENV_DIR/pki"
    write_kubeconfig "$kc"

    # etcd
    local etcd_args=(--name testenv --data-dir "$TESTENV_DIR/etcd"
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT"
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
        --initial-cluster "testenv=http://127.0.0.1:$ETCD_PEER_PORT" --logger zap --log-level warn)
    local etcd_help
    etcd_help="$("$etcd_bin" --help 2>&1 || true)"
    if grep -q -- --unsafe-no-fsync <<<"$etcd_help"; then etcd_args+=(--unsafe-no-fsync); fi
    start_component etcd "$etcd_bin" "${etcd_args[@]}"
    wait_http "http://127.0.0.1:$ETCD_PORT/health" etcd
    save_state "ETCD_VERSION=$("$etcd_bin" --version | awk '/etcd Version/{print $3}')"

    # kube-apiserver
    start_component kube-apiserver "$BIN/kube-apiserver" \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" --advertise-address=127.0.0.1 \
        --cert-dir="$TESTENV_DIR/apiserver" \
        --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
        --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
        --authorization-mode=RBAC \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" \
        --allow-privileged=true \
        --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
        --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
        --requestheader-extra-headers-prefix=X-Remote-Extra- \
        --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
        --endpoint-reconciler-type=none \
        --kubelet-preferred-address-types=InternalIP \
        --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
        --profiling=false --v=1
    "$BIN/testenvctl" wait-ready -kubeconfig "$kc" -timeout "${TIMEOUT}s"
    log "kube-apiserver ready on https://127.0.0.1:$APISERVER_PORT"

    local common=(--kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc"
        --bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1)
    start_component kube-controller-manager "$BIN/kube-controller-manager" "${common[@]}" \
        --secure-port="$KCM_PORT" --cert-dir="$TESTENV_DIR/kcm" \
        --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
        --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" --use-service-account-credentials=false
    start_component kube-scheduler "$BIN/kube-scheduler" "${common[@]}" \
        --secure-port="$SCHEDULER_PORT" --cert-dir="$TESTENV_DIR/scheduler"

    # CRDs: Traefik's, and kwok's Logs/ClusterLogs (kwok watches them, so before kwok starts)
    "$BIN/testenvctl" crds -kubeconfig "$kc" -timeout "${TIMEOUT}s" -kwok "$crd_file" >"$TESTENV_DIR/logs/crds.log"
    log "CRDs established: $(grep -c established "$TESTENV_DIR/logs/crds.log") (Traefik $TRAEFIK_VERSION + kwok Logs/ClusterLogs)"

    # kwok: one fake node, pods Ready via kwok's default stages (+ gofast's failure stages)
    "$BIN/testenvctl" kwok-config -out "$TESTENV_DIR/kwok.yaml"
    start_component kwok "$BIN/kwok" --config="$TESTENV_DIR/kwok.yaml" --kubeconfig="$kc" \
        --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
        --node-ip=127.0.0.1 --node-port="$KWOK_PORT" --server-address="127.0.0.1:$KWOK_PORT" \
        --cidr="$POD_CIDR" --node-lease-duration-seconds=40 --enable-crds=Logs,ClusterLogs
    "$BIN/testenvctl" node -kubeconfig "$kc" -timeout "${TIMEOUT}s" -name "$NODE_NAME"
    wait_http "https://127.0.0.1:$KCM_PORT/healthz" kube-controller-manager -k
    wait_http "https://127.0.0.1:$SCHEDULER_PORT/healthz" kube-scheduler -k

    # end to end: a Deployment gets a Ready pod through kwok, then it is deleted. The pod log
    # check (-logs-dir) is opt-in: the apiserver sometimes dials the node's default kubelet
    # port (10250) before kwok has published its own, which made starts flaky under load.
    if [ -n "${GOFAST_KUBE_SMOKE_LOGS:-}" ]; then
        mkdir -p "$TESTENV_DIR/pod-logs"
        "$BIN/testenvctl" smoke -kubeconfig "$kc" -timeout "${TIMEOUT}s" -logs-dir "$TESTENV_DIR/pod-logs" >&2
    else
        "$BIN/testenvctl" smoke -kubeconfig "$kc" -timeout "${TIMEOUT}s" >&2
    fi

    trap - ERR
    cp "$kc" "$KUBECONFIG_OUT.tmp" && mv -f "$KUBECONFIG_OUT.tmp" "$KUBECONFIG_OUT"
    cp "$TESTENV_DIR/token" "$TOKEN_OUT" && chmod 600 "$TOKEN_OUT"
    save_state "APISERVER_URL=https://127.0.0.1:$APISERVER_PORT" "NODE_NAME=$NODE_NAME" "READY=1"
    log "ready in $((SECONDS - started))s: Kubernetes $KUBE_VERSION, etcd $(grep ETCD_VERSION "$STATE" | cut -d= -f2), kwok $KWOK_VERSION, apiserver https://127.0.0.1:$APISERVER_PORT, temp dir $TESTENV_DIR"
    echo "export KUBECONFIG=$KUBECONFIG_OUT"
}

# ---------------------------------------------------------------------------------------------
# stop / env / status

cmd_stop() {
    if ! load_state; then
        log "not running"
        return 0
    fi
    local i c pv ev pid
    # reverse order: kwok first, etcd last
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
        c="${COMPONENTS[$i]}"; pv="$(pid_var "$c")"; ev="$(exe_var "$c")"
        pid="${!pv:-}"
        if pid_alive "$pid" "${!ev:-}"; then
            kill -TERM "$pid" 2>/dev/null || true
            local n=0
            while pid_alive "$pid" "${!ev:-}" && ((n < 50)); do sleep 0.2; n=$((n + 1)); done
            if pid_alive "$pid" "${!ev:-}"; then kill -KILL "$pid" 2>/dev/null || true; fi
            log "stopped $c (pid $pid)"
        fi
    done
    if [[ -n "${TESTENV_DIR:-}" && "$TESTENV_DIR" == /tmp/gofast-kube-* && -d "$TESTENV_DIR" ]]; then
        rm -rf "$TESTENV_DIR"
        log "removed $TESTENV_DIR"
    fi
    rm -f "$STATE" "$KUBECONFIG_OUT" "$TOKEN_OUT"
}

cmd_env() {
    if is_running; then
        echo "export KUBECONFIG=$KUBECONFIG_OUT"
    else
        log "not running (scripts/kube-testenv.sh start)"
        return 1
    fi
}

cmd_status() {
    if ! load_state; then echo "not running"; return 1; fi
    local c pv ev state
    echo "temp dir:   $TESTENV_DIR"
    echo "apiserver:  https://127.0.0.1:${APISERVER_PORT:-?}  etcd: http://127.0.0.1:${ETCD_PORT:-?} (etcd ${ETCD_VERSION:-?})"
    echo "kwok:       https://127.0.0.1:${KWOK_PORT:-?} (node ${NODE_NAME:-$NODE_NAME})  kcm: ${KCM_PORT:-?}  scheduler: ${SCHEDULER_PORT:-?}"
    echo "kubeconfig: $KUBECONFIG_OUT"
    for c in "${COMPONENTS[@]}"; do
        pv="$(pid_var "$c")"; ev="$(exe_var "$c")"
        if pid_alive "${!pv:-}" "${!ev:-}"; then state="running (pid ${!pv})"; else state="NOT running"; fi
        printf '  %-24s %s\n' "$c" "$state"
    done
    if is_running; then echo "ready"; else echo "not ready"; return 1; fi
}

case "${1:-}" in
    build) mkdir -p "$CACHE"; exec 9>"$CACHE/lock"; flock 9; cmd_build; log "binaries in $BIN";;
    start) cmd_start;;
    stop) mkdir -p "$CACHE"; exec 9>"$CACHE/lock"; flock 9; cmd_stop;;
    env) cmd_env;;
    status) cmd_status;;
    *) echo "usage: $0 build|start|stop|env|status" >&2; exit 2;;
esac
