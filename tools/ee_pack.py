"""Pack the collections georep.mars depends on (galaxy.yml, then theirs) from the installed
'ansible' package into DEST as artifact tarballs, for an offline execution environment build
(tools/ee.sh --deps-from-ansible-package).

An installed collection holds MANIFEST.json and FILES.json, as an artifact tarball does at its
root. The package leaves out the collections' tests, which FILES.json still lists; the tarball
gets a FILES.json of what is there (and MANIFEST.json its checksum).

Usage: tools/ee_pack.py DEST   (run from the repository root)
"""
import gzip
import hashlib
import importlib.metadata
import io
import json
import os
import sys
import tarfile

import yaml


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def add_bytes(tar, name, data):
    member = tarfile.TarInfo(name)
    member.size, member.mode = len(data), 0o644
    tar.addfile(member, io.BytesIO(data))


dest = sys.argv[1]
try:
    package = importlib.metadata.distribution("ansible")
except importlib.metadata.PackageNotFoundError:
    sys.exit("ee: error: python3 (%s) has no 'ansible' package to take the dependencies from; "
             "run 'make deps' (or put .venv/bin on PATH)" % sys.executable)
with open("galaxy.yml", encoding="utf-8") as handle:
    wanted = dict(yaml.safe_load(handle).get("dependencies") or {})
done = set()
while wanted:
    fqcn, constraint = wanted.popitem()
    if fqcn in done:
        continue
    done.add(fqcn)
    path = package.locate_file(os.path.join("ansible_collections", *fqcn.split(".")))
    if not os.path.exists(os.path.join(path, "MANIFEST.json")):
        sys.exit("ee: error: the 'ansible' package %s has no %s (wanted: %s); take it from Galaxy "
                 "(tools/ee.sh without --deps-from-ansible-package)" % (package.version, fqcn, constraint))
    manifest = read_json(os.path.join(path, "MANIFEST.json"))
    files = read_json(os.path.join(path, "FILES.json"))
    files["files"] = [entry for entry in files["files"]
                      if entry["name"] == "." or os.path.lexists(os.path.join(path, entry["name"]))]
    files_json = json.dumps(files, indent=4).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    info = manifest["collection_info"]
    tarball = os.path.join(dest, "%s-%s-%s.tar.gz" % (info["namespace"], info["name"], info["version"]))
    # no time stamp in the gzip header: the same collection gives the same bytes
    with gzip.GzipFile(tarball, "wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as tar:
        add_bytes(tar, "MANIFEST.json", json.dumps(manifest, indent=4).encode())
        add_bytes(tar, "FILES.json", files_json)
        for entry in files["files"]:
            if entry["name"] != ".":
                tar.add(os.path.join(path, entry["name"]), arcname=entry["name"], recursive=False)
    print("ee: %s %s (wanted: %s) from the ansible package %s" % (fqcn, info["version"], constraint, package.version))
    wanted.update(info.get("dependencies") or {})
