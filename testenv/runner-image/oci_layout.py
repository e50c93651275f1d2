#!/usr/bin/env python3
"""Write a one-layer OCI image layout (image-spec v1.1) from a root filesystem tar.

Used by scripts/runner-image.sh to make the runner image without Docker: the layer is the
uncompressed rootfs tar (its digest is also its diff_id), the config carries what the
Dockerfile's ENV/USER/WORKDIR/CMD say, and index.json names the image so that
`ctr images import` (containerd) tags it. The result is written as a tar of the layout, the
form `ctr images import` reads. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tarfile
import tempfile

LAYER = "application/vnd.oci.image.layer.v1.tar"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def sha256_file(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest(), os.path.getsize(path)


def put_blob(blobs: str, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest.split(":", 1)[1]), "wb") as f:
        f.write(data)
    return digest, len(data)


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rootfs-tar", required=True, help="uncompressed tar of the root filesystem")
    p.add_argument("--name", required=True, help="full image reference, e.g. gofast.dev/runner:testenv")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE (repeatable)")
    p.add_argument("--user", default="")
    p.add_argument("--workdir", default="/")
    p.add_argument("--cmd", required=True, help="JSON array")
    p.add_argument("--expose", action="append", default=[], help="port/proto (repeatable)")
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE (repeatable)")
    p.add_argument("--created", default="1970-01-01T00:00:00Z")
    p.add_argument("--out", required=True, help="output: a tar of the OCI layout")
    a = p.parse_args()

    tmp = tempfile.mkdtemp(prefix="oci-layout-", dir=os.path.dirname(os.path.abspath(a.out)))
    try:
        blobs = os.path.join(tmp, "blobs", "sha256")
        os.makedirs(blobs)
        layer_digest, layer_size = sha256_file(a.rootfs_tar)
        # hard link when on the same filesystem: the layer is hundreds of MiB
        dest = os.path.join(blobs, layer_digest.split(":", 1)[1])
        try:
            os.link(a.rootfs_tar, dest)
        except OSError:
            shutil.copyfile(a.rootfs_tar, dest)

        config = {
            "created": a.created,
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": a.user,
                "Env": a.env,
                "WorkingDir": a.workdir,
                "Cmd": json.loads(a.cmd),
                "ExposedPorts": {port: {} for port in a.expose},
                "Labels": dict(kv.split("=", 1) for kv in a.label),
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created": a.created, "created_by": "scripts/runner-image.sh (mmdebstrap + pip)"}],
        }
        config_digest, config_size = put_blob(blobs, canonical(config))
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": LAYER, "digest": layer_digest, "size": layer_size}],
        }
        manifest_digest, manifest_size = put_blob(blobs, canonical(manifest))
        tag = a.name.rsplit(":", 1)[1] if ":" in a.name.rsplit("/", 1)[-1] else "latest"
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [
                {
                    "mediaType": MANIFEST,
                    "digest": manifest_digest,
                    "size": manifest_size,
                    "platform": {"architecture": "amd64", "os": "linux"},
                    # containerd names the imported image after io.containerd.image.name
                    "annotations": {
                        "io.containerd.image.name": a.name,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
        with open(os.path.join(tmp, "index.json"), "wb") as f:
            f.write(canonical(index))
        with open(os.path.join(tmp, "oci-layout"), "wb") as f:
            f.write(canonical({"imageLayoutVersion": "1.0.0"}))

        out_tmp = a.out + ".tmp"
        with tarfile.open(out_tmp, "w", format=tarfile.PAX_FORMAT) as t:
            for rel in ("oci-layout", "index.json"):
                t.add(os.path.join(tmp, rel), arcname=rel)
            t.add(os.path.join(tmp, "blobs"), arcname="blobs", recursive=False)
            t.add(os.path.join(tmp, "blobs", "sha256"), arcname="blobs/sha256", recursive=False)
            for name in sorted(os.listdir(blobs)):
                t.add(os.path.join(blobs, name), arcname=f"blobs/sha256/{name}")
        os.replace(out_tmp, a.out)
        print(json.dumps({"name": a.name, "manifest": manifest_digest, "config": config_digest,
                          "layer": layer_digest, "layer_size": layer_size}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
