#!/usr/bin/env python3
"""Goldens of the differential build corpus, taken from docker/BuildKit.

Called by regenerate.sh (which starts dockerd and imports busybox):

  golden.py fixtures          writes the binary fixtures (tarballs) of the cases
  golden.py build [CASE...]   builds each case with docker and writes its
                              config.json and rootfs.txt

The staging rules, the config normalisation and the listing format here are
the contract that tests/it/differential.rs implements again for kiln: change
them in both places.
"""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")

# Files of a case directory that are about the case, not in its context.
META = {
    "config.json", "rootfs.txt", "notes", "args", "target", "pending",
    "known-diff", "dockerfile", "base.Dockerfile", "docker.Dockerfile",
    "golden.patch", "modes",
}

# The parts of the image's runtime config that the goldens keep.
CONFIG_KEYS = [
    "Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
    "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell", "ArgsEscaped",
]


def cases(selected):
    names = sorted(
        n for n in os.listdir(HERE)
        if os.path.isdir(os.path.join(HERE, n)) and not n.startswith(".")
    )
    if selected:
        missing = [s for s in selected if s not in names]
        if missing:
            sys.exit(f"golden.py: no such case: {' '.join(missing)}")
        names = [n for n in names if n in selected]
    return names


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


def stage(case_dir, out):
    """Copies a case's context: metadata left out, modes made canonical
    (0755 if the owner may execute, else 0644; directories 0755), then the
    case's `modes` file applied (`OCTAL PATH` lines; a PATH ending in `/`
    is created as a directory)."""
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o755)
    for name in sorted(os.listdir(case_dir)):
        if name in META:
            continue
        copy_entry(os.path.join(case_dir, name), os.path.join(out, name))
    for line in read_lines(os.path.join(case_dir, "modes")):
        mode, path = line.split(None, 1)
        p = os.path.join(out, path)
        if path.endswith("/"):
            os.makedirs(p, exist_ok=True)
        os.chmod(p, int(mode, 8))


def copy_entry(src, dst):
    st = os.lstat(src)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(dst)
        for name in sorted(os.listdir(src)):
            copy_entry(os.path.join(src, name), os.path.join(dst, name))
        os.chmod(dst, 0o755)
    else:
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o755 if st.st_mode & 0o100 else 0o644)


# ---------------------------------------------------------------- config


def nonzero(v):
    return v not in (None, "", [], {}, False, 0)


def normalise_config(cfg, base_history_len):
    """The fields that matter; empty values dropped so that null, missing
    and empty compare equal; history without timestamps, base entries
    dropped."""
    out = {}
    if nonzero(cfg.get("author")):
        out["author"] = cfg["author"]
    rc = cfg.get("config") or {}
    kept = {}
    for k in CONFIG_KEYS:
        v = rc.get(k)
        if k == "Healthcheck" and isinstance(v, dict):
            v = {hk: hv for hk, hv in v.items() if nonzero(hv)}
        if nonzero(v):
            kept[k] = v
    out["config"] = kept
    hist = cfg.get("history") or []
    out["history"] = [
        {"created_by": h.get("created_by", ""), "empty_layer": bool(h.get("empty_layer", False))}
        for h in hist[base_history_len:]
    ]
    return json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------- listing


def esc(path):
    """Paths as printed: `\\`, space and non-printable bytes escaped."""
    out = []
    for b in path.encode("utf-8", "surrogateescape"):
        if b == 0x5C:
            out.append("\\\\")
        elif b <= 0x20 or b >= 0x7F:
            out.append("\\x%02x" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def entry_line(path, e):
    """One listing line: path, type, mode, uid, gid, then size and content
    digest for files, target for symlinks, device numbers for devices."""
    kind, mode, uid, gid, extra = e
    if kind == "l":
        mode = 0o777
    return f"{esc(path)} {kind} {mode:04o} {uid} {gid}{extra}"


def tar_path(name):
    """A tar member name as an absolute, clean path."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


def flatten(layer_tars):
    """The merged tree of image layers: path -> (type, mode, uid, gid, extra),
    applying OCI whiteouts."""
    tree = {}
    for data in layer_tars:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            members = tf.getmembers()
            # Opaque markers and whiteouts first: they hide lower layers only.
            for m in members:
                name = tar_path(m.name)
                d, base = os.path.split(name)
                if base == ".wh..wh..opq":
                    prefix = d.rstrip("/") + "/"
                    for p in [p for p in tree if p.startswith(prefix)]:
                        del tree[p]
                elif base.startswith(".wh."):
                    gone = os.path.join(d, base[4:])
                    for p in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                        del tree[p]
            for m in members:
                name = tar_path(m.name)
                base = os.path.basename(name)
                if base.startswith(".wh.") or name == "/":
                    continue
                prev = tree.get(name)
                if prev is not None and prev[0] == "d" and not m.isdir():
                    for p in [p for p in tree if p.startswith(name + "/")]:
                        del tree[p]
                mode = m.mode & 0o7777
                if m.isdir():
                    e = ("d", mode, m.uid, m.gid, "")
                elif m.issym():
                    e = ("l", mode, m.uid, m.gid, f" -> {esc(m.linkname)}")
                elif m.islnk():
                    target = tar_path(m.linkname)
                    t = tree[target]
                    e = ("f", t[1], t[2], t[3], t[4])
                elif m.isfile():
                    body = tf.extractfile(m).read()
                    digest = hashlib.sha256(body).hexdigest()[:16]
                    e = ("f", mode, m.uid, m.gid, f" {len(body)} sha256:{digest}")
                elif m.ischr() or m.isblk():
                    e = ("c" if m.ischr() else "b", mode, m.uid, m.gid, f" {m.devmajor},{m.devminor}")
                elif m.isfifo():
                    e = ("p", mode, m.uid, m.gid, "")
                else:
                    raise SystemExit(f"golden.py: unexpected tar member {m.name!r}")
                tree[name] = e
    return tree


def listing(tree, base):
    """Every path that differs from the base tree, sorted."""
    lines = []
    for p, e in tree.items():
        if base.get(p) != e:
            lines.append(entry_line(p, e))
    for p in base:
        if p not in tree:
            lines.append(f"{esc(p)} deleted")
    lines.sort()
    return "".join(l + "\n" for l in lines)


# ---------------------------------------------------------------- docker


def run(args, **kw):
    r = subprocess.run(args, **kw)
    if r.returncode != 0:
        raise SystemExit(f"golden.py: {' '.join(args)} exited with {r.returncode}")
    return r


def saved(image):
    """(config, [layer tar bytes]) of a local image, via `docker save`."""
    with tempfile.TemporaryDirectory() as d:
        tar = os.path.join(d, "img.tar")
        run([DOCKER, "save", "-o", tar, image])
        with tarfile.open(tar) as tf:
            manifest = json.load(tf.extractfile("manifest.json"))[0]
            config = json.load(tf.extractfile(manifest["Config"]))
            layers = [tf.extractfile(l).read() for l in manifest["Layers"]]
    return config, layers


def build_case(name, base):
    base_cfg, base_tree = base
    case = os.path.join(HERE, name)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = os.path.join(tmp, "ctx")
        stage(case, ctx)
        env = dict(os.environ, DOCKER_BUILDKIT="1")
        common = ["build", "--network=none", "--progress=plain"]
        if os.path.exists(os.path.join(case, "base.Dockerfile")):
            run([DOCKER, *common, "-f", os.path.join(case, "base.Dockerfile"),
                 "-t", f"{name}-base:latest", ctx], env=env)
        dockerfile = (read_lines(os.path.join(case, "dockerfile")) or ["Dockerfile"])[0]
        if os.path.exists(os.path.join(case, "docker.Dockerfile")):
            df = os.path.join(case, "docker.Dockerfile")
        else:
            df = os.path.join(ctx, dockerfile)
        args = [DOCKER, *common, "-f", df, "-t", f"golden-{name}:latest"]
        for kv in read_lines(os.path.join(case, "args")):
            args += ["--build-arg", kv]
        for t in read_lines(os.path.join(case, "target")):
            args += ["--target", t]
        run(args + [ctx], env=env)
    config, layers = saved(f"golden-{name}:latest")
    base_ids = base_cfg["rootfs"]["diff_ids"]
    ids = config["rootfs"]["diff_ids"]
    # An image that is not built on busybox is compared with nothing.
    on_base = ids[: len(base_ids)] == base_ids
    skip = len(base_cfg.get("history") or []) if on_base else 0
    with open(os.path.join(case, "config.json"), "w") as f:
        f.write(normalise_config(config, skip))
    with open(os.path.join(case, "rootfs.txt"), "w") as f:
        f.write(listing(flatten(layers), base_tree if on_base else {}))
    patch = os.path.join(case, "golden.patch")
    if os.path.exists(patch):
        run(["patch", "--quiet", "--fuzz=0", "--no-backup-if-mismatch", "-p1", "-d", case, "-i", patch])
    subprocess.run([DOCKER, "rmi", "-f", f"golden-{name}:latest", f"{name}-base:latest"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -------------------------------------------------------------- fixtures


def tar_bytes(entries):
    """A deterministic tarball from (name, kind, mode, uid, gid, data) rows."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, kind, mode, uid, gid, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.uid, ti.gid, ti.mtime = mode, uid, gid, 1_600_000_000
            ti.uname = ti.gname = ""
            if kind == "d":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
            elif kind == "h":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
                tf.addfile(ti)
            else:
                body = data.encode()
                ti.size = len(body)
                tf.addfile(ti, io.BytesIO(body))
    return buf.getvalue()


ARCHIVE = [
    ("pkg", "d", 0o755, 1000, 1000, None),
    ("pkg/bin", "d", 0o750, 1000, 1000, None),
    ("pkg/bin/tool", "f", 0o4755, 0, 0, "#!/bin/sh\necho tool\n"),
    ("pkg/etc", "d", 0o700, 1000, 1001, None),
    ("pkg/etc/conf", "f", 0o600, 1000, 1001, "key=value\n"),
    ("pkg/etc/hard", "h", 0o600, 1000, 1001, "pkg/etc/conf"),
    ("pkg/link", "l", 0o777, 0, 0, "bin/tool"),
    ("pkg/readme.txt", "f", 0o644, 0, 0, "archive readme\n"),
]


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def fixtures():
    d = lambda case: os.path.join(HERE, case)
    plain = tar_bytes(ARCHIVE)
    write(os.path.join(d("add-tar-plain"), "pkg.tar"), plain)
    # A name that says nothing: ADD looks at the content (ADD-1).
    write(os.path.join(d("add-tar-plain"), "archive.bin"), plain)
    write(os.path.join(d("add-tar-gz"), "pkg.tar.gz"), gzip.compress(plain, mtime=0))
    write(os.path.join(d("add-tar-gz"), "text.tar.gz"), b"not an archive, only a name\n")
    write(os.path.join(d("add-tar-bz2-xz"), "pkg.tar.bz2"), bz2.compress(plain))
    write(os.path.join(d("add-tar-bz2-xz"), "pkg.tar.xz"), lzma.compress(plain))
    zst = subprocess.run(["zstd", "-q", "-19", "-c"], input=plain, stdout=subprocess.PIPE,
                         check=True).stdout
    write(os.path.join(d("add-tar-zstd"), "pkg.tar.zst"), zst)
    write(os.path.join(d("add-tar-zstd"), "pkg.tar.gz"), gzip.compress(plain, mtime=0))
    merge = tar_bytes([
        ("./", "d", 0o700, 5, 5, None),
        ("./opt", "d", 0o711, 7, 7, None),
        ("./opt/new.txt", "f", 0o640, 7, 8, "merged in\n"),
        ("./opt/sub", "d", 0o755, 0, 0, None),
        ("./opt/sub/deep.txt", "f", 0o644, 0, 0, "deep\n"),
    ])
    write(os.path.join(d("add-tar-merge-chown"), "merge.tar.gz"), gzip.compress(merge, mtime=0))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "fixtures":
        fixtures()
        return
    if sys.argv[1] != "build":
        sys.exit(__doc__)
    base_cfg, base_layers = saved("busybox:latest")
    base = (base_cfg, flatten(base_layers))
    failed = []
    for name in cases(sys.argv[2:]):
        print(f"=== {name}", flush=True)
        try:
            build_case(name, base)
        except SystemExit as e:
            print(e, file=sys.stderr)
            failed.append(name)
    if failed:
        sys.exit(f"golden.py: failed: {' '.join(failed)}")


if __name__ == "__main__":
    main()
