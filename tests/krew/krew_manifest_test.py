#!/usr/bin/env python3
"""scripts/krew-package.sh makes a krew plugin manifest and archive that krew would accept and
install: the manifest passes krew's validation rules (apiVersion, kind, name, a v-prefixed
semantic version, a platform with selector, uri, a sha256 equal to the archive's, files and
bin), and the archive, unpacked the way `kubectl krew install --manifest --archive` does (the
`files` moved into the install directory, `bin` linked as kubectl-keygate on PATH), gives a
`kubectl keygate` that the real kubectl discovers and runs.

krew itself is not packaged in Debian and installs from the network, so its install step is
reproduced here from its documented behaviour.

Usage: krew_manifest_test.py KEYGATE_BINARY"""
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile

import yaml


def check(cond, what, failures):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def main():
    binary = os.path.abspath(sys.argv[1])
    src = os.environ.get("KEYGATE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "dist")
        subprocess.run(["bash", os.path.join(src, "scripts", "krew-package.sh"), binary, out], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "keygate.yaml")) as f:
            m = yaml.safe_load(f)
        check(m.get("apiVersion") == "krew.googlecontainertools.github.com/v1alpha2", "apiVersion", failures)
        check(m.get("kind") == "Plugin", "kind Plugin", failures)
        check(m["metadata"]["name"] == "keygate", "name keygate (the file is keygate.yaml)", failures)
        spec = m["spec"]
        check(re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", spec["version"]) is not None,
              "version " + spec["version"] + " is v-prefixed semver", failures)
        check(0 < len(spec["shortDescription"]) <= 60, "shortDescription is short", failures)
        check(bool(spec.get("homepage")) and bool(spec.get("description")), "homepage and description", failures)
        check(len(spec["platforms"]) == 1, "one platform", failures)
        p = spec["platforms"][0]
        check(p["selector"]["matchLabels"].get("os") == "linux", "selector os linux", failures)
        archive = os.path.join(out, os.path.basename(p["uri"]))
        check(os.path.exists(archive), "the uri's file name is the archive made", failures)
        with open(archive, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        check(re.fullmatch(r"[0-9a-f]{64}", p["sha256"]) is not None and p["sha256"] == digest,
              "sha256 is the archive's", failures)

        # krew's install: unpack, move each `files` entry into the install dir, link `bin`.
        unpacked = os.path.join(tmp, "unpacked")
        with tarfile.open(archive) as t:
            check(all(not (i.name.startswith("/") or ".." in i.name.split("/")) for i in t.getmembers()),
                  "archive paths stay inside it", failures)
            t.extractall(unpacked)
        install = os.path.join(tmp, "store", "keygate", spec["version"])
        os.makedirs(install)
        for entry in p["files"]:
            source = os.path.join(unpacked, entry["from"])
            check(os.path.exists(source), "files: " + entry["from"] + " is in the archive", failures)
            os.rename(source, os.path.join(install, entry["to"], os.path.basename(entry["from"])))
        target = os.path.join(install, p["bin"])
        check(os.access(target, os.X_OK), "bin " + p["bin"] + " is executable after install", failures)
        bindir = os.path.join(tmp, "krew-bin")
        os.makedirs(bindir)
        os.symlink(target, os.path.join(bindir, "kubectl-keygate"))
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])
        listed = subprocess.run(["kubectl", "plugin", "list"], env=env, capture_output=True, text=True)
        check(os.path.join(bindir, "kubectl-keygate") in listed.stdout, "kubectl plugin list finds kubectl-keygate", failures)
        helped = subprocess.run(["kubectl", "keygate", "--help"], env=env, capture_output=True, text=True)
        check(helped.returncode == 0 and "approve" in helped.stdout and "pending" in helped.stdout,
              "kubectl keygate --help runs the installed plugin", failures)
    print("FAILED: " + ", ".join(failures) if failures else "krew manifest and archive: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
