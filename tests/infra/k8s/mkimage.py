#!/usr/bin/env python3
"""Build a docker-archive image tarball (importable with `ctr images import`) from files on disk.

usage: mkimage.py OUT.tar REF ENTRYPOINT_JSON SRC:DST[:mode] ... [--link NAME=TARGET ...]
"""
import hashlib
import io
import json
import sys
import tarfile
import time


def main():
    out, ref, entry = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    files, links, rootfs = [], [], None
    args = sys.argv[4:]
    i = 0
    while i < len(args):
        if args[i] == "--rootfs":
            rootfs = args[i + 1]
            i += 2
        elif args[i] == "--link":
            name, target = args[i + 1].split("=", 1)
            links.append((name, target))
            i += 2
        else:
            src, dst = args[i].split(":", 1)
            files.append((src, dst))
            i += 1

    layer_buf = io.BytesIO()
    mtime = int(time.time())
    with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.PAX_FORMAT) as lt:
        if rootfs:  # whole directory tree (e.g. made by debootstrap) as the single layer
            lt.add(rootfs, arcname=".", recursive=True)
            files, links = [], []
        dirs = set()
        for _, dst in files + links:
            parts = dst.strip("/").split("/")[:-1]
            for k in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:k]))
        for d in [] if rootfs else ["tmp", "etc", "proc", "sys", "dev"]:
            dirs.add(d)
        for d in sorted(dirs):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o1777 if d == "tmp" else 0o755
            ti.mtime = mtime
            lt.addfile(ti)
        for src, dst in files:
            ti = lt.gettarinfo(src, arcname=dst.strip("/"))
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            with open(src, "rb") as fh:
                lt.addfile(ti, fh)
        for name, target in links:
            ti = tarfile.TarInfo(name.strip("/"))
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            ti.mtime = mtime
            lt.addfile(ti)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        for name, content in [] if rootfs else [("etc/passwd", passwd),
                              ("etc/group", b"root:x:0:\nnogroup:x:65534:\n")]:
            ti = tarfile.TarInfo(name)
            ti.size = len(content)
            ti.mode = 0o644
            ti.mtime = mtime
            lt.addfile(ti, io.BytesIO(content))
    layer = layer_buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()

    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"Entrypoint": entry, "Env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "mkimage.py"}],
    }
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}]

    with tarfile.open(out, "w") as t:
        for name, data in [(config_name, config_bytes), ("layer.tar", layer),
                           ("manifest.json", json.dumps(manifest).encode())]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = mtime
            t.addfile(ti, io.BytesIO(data))
    print(out, ref, diff_id, len(layer), "bytes layer")


if __name__ == "__main__":
    main()
