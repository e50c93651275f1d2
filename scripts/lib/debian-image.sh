# shellcheck shell=bash
# Images without Docker, shared by scripts/runner-image.sh and scripts/controlplane-image.sh: a
# Debian rootfs made by mmdebstrap from this machine's apt sources, and an OCI image layout tar of
# it that `ctr images import` reads. Sourced; the caller sets ROOT and defines log and die.

apt_sources() { # Debian's sources of this machine (a path: mmdebstrap pastes it into the chroot)
    local f
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        [[ -s "$f" ]] && { echo "$f"; return 0; }
    done
    die "no Debian apt sources found on this machine"
}

# debian_rootfs SUITE ROOTFS LOGFILE INCLUDE [mmdebstrap options, e.g. --customize-hook=...]:
# minbase + INCLUDE, the caller's hooks, then what belongs to this machine is removed: resolv.conf
# (mmdebstrap copies the host's; pods get no DNS), hostname, pip's and apt's caches.
debian_rootfs() {
    local suite="$1" rootfs="$2" logfile="$3" include="$4"
    shift 4
    [[ "$(id -u)" == 0 ]] || die "run as root (mmdebstrap and chroot)"
    command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install -y mmdebstrap"
    rm -rf "$rootfs"
    # shellcheck disable=SC2016 # the hook's $1 is mmdebstrap's (the rootfs), not ours
    nice -n 10 mmdebstrap --mode=root --format=directory --variant=minbase --include="$include" "$@" \
        --customize-hook='rm -rf "$1/etc/resolv.conf" "$1/etc/hostname" "$1/root/.cache" "$1/var/cache/apt/"*.bin' \
        "$suite" "$rootfs" "$(apt_sources)" >"$logfile" 2>&1 ||
        { tail -n 30 "$logfile" >&2; die "mmdebstrap failed (log: $logfile)"; }
    [[ ! -e "$rootfs/etc/resolv.conf" ]] || die "the rootfs still has /etc/resolv.conf"
}

# oci_image ROOTFS WORKDIR IMAGE_TAR [oci_layout.py options: --name, --user, --cmd, --env, ...]:
# one reproducible layer (sorted names, numeric owners, mtimes clamped to the packages' date),
# written as an OCI layout tar; the image config goes to WORKDIR/image.json.
oci_image() {
    local rootfs="$1" work="$2" out="$3"
    shift 3
    local epoch created
    epoch="$(stat -c %Y "$rootfs/var/lib/dpkg/status")"
    created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
    tar --sort=name --numeric-owner --mtime="@$epoch" --clamp-mtime --xattrs \
        -C "$rootfs" -cf "$work/layer.tar" .
    python3 "$ROOT/testenv/runner-image/oci_layout.py" --rootfs-tar "$work/layer.tar" \
        --created "$created" --out "$out" "$@" >"$work/image.json"
    rm -f "$work/layer.tar"
}

# check_oci_layout IMAGE_TAR NAME: every blob's name is its digest, index -> manifest -> config
# and layers exist, and the image is named NAME. Says ok or FAIL; returns 1 on FAIL.
check_oci_layout() {
    if python3 - "$1" "$2" <<'PY'
import hashlib, json, sys, tarfile
t = tarfile.open(sys.argv[1])
names = set(t.getnames())
def blob(d):
    f = t.extractfile("blobs/sha256/" + d.split(":")[1]); h = hashlib.sha256(); data = b""
    while c := f.read(1 << 20):
        h.update(c); data = data + c if len(data) < 1 << 16 else data
    assert "sha256:" + h.hexdigest() == d, d
    return data
idx = json.load(t.extractfile("index.json"))
m = idx["manifests"][0]
assert m["annotations"]["io.containerd.image.name"] == sys.argv[2]
man = json.loads(blob(m["digest"]))
cfg = json.loads(blob(man["config"]["digest"]))
for l in man["layers"]:
    blob(l["digest"])
assert cfg["rootfs"]["diff_ids"] == [l["digest"] for l in man["layers"]]
assert "oci-layout" in names
PY
    then log "ok: OCI layout (digests verified, named $2)"
    else log "FAIL: the OCI layout is broken"; return 1; fi
}
