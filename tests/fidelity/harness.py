"""Starts a fresh test API server per sample session and offers typed helpers for setup steps."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import client

TOKENS = {"admin": "tok-admin", "alice": "tok-alice", "bob": "tok-bob", "carol": "tok-carol", "dave": "tok-dave"}
UA = "curl/8.5.0"


class Server:
    def __init__(self, server_py, crds, namespaces, extra_args=()):
        self.tmp = tempfile.mkdtemp(prefix="fidelity-")
        tokens = os.path.join(self.tmp, "tokens.csv")
        with open(tokens, "w") as fh:
            fh.write('tok-admin,admin,uid-admin,"system:masters"\n')
            fh.write("tok-alice,alice,uid-alice\n")
            fh.write("tok-bob,bob,uid-bob\n")
            fh.write("tok-carol,carol,uid-carol\ntok-dave,dave,uid-dave\n")   # 22-24
        self.tls = os.path.join(self.tmp, "tls")
        args = [sys.executable, server_py, "--tokens", tokens, "--tls-dir", self.tls,
                "--namespaces", ",".join(namespaces)] + list(extra_args)
        for c in crds:
            args += ["--crd", c]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(os.path.join(self.tmp, "stderr"), "w"),
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError("server did not start: %r %s" % (line, open(os.path.join(self.tmp, "stderr")).read()))
        _, url, ca = line.split()
        host, port = url[len("https://"):].rsplit(":", 1)
        self.addr = (host, int(port))
        self.ca = ca

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stderr(self):
        try:
            return open(os.path.join(self.tmp, "stderr")).read()
        except OSError:
            return ""

    # --- typed helpers (as admin, UA curl so managers read 'curl') ---
    def call(self, method, path, body=None, ctype="application/json", user="admin", headers=()):
        h = [("Authorization", "Bearer " + TOKENS[user]), ("User-Agent", UA), ("Accept", "application/json")]
        if body is not None:
            h.append(("Content-Type", ctype))
            data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        else:
            data = b""
        h += list(headers)
        r = client.request(self.addr, self.ca, method, path, h, data)
        try:
            obj = json.loads(r.body) if r.body else None
        except ValueError:
            obj = None
        return r.status, obj

    def widget(self, ns, name, size=3, color="red", mode="fast", labels=None, finalizers=None, spec=None):
        meta = {"name": name}
        if labels:
            meta["labels"] = labels
        if finalizers:
            meta["finalizers"] = finalizers
        s = spec if spec is not None else {"size": size, "color": color, "mode": mode}
        code, obj = self.call("POST", "/apis/example.test/v1/namespaces/%s/widgets" % ns,
                              {"apiVersion": "example.test/v1", "kind": "Widget", "metadata": meta, "spec": s})
        assert code == 201, (code, obj)
        return obj

    def merge(self, ns, name, patch, sub=""):
        code, obj = self.call("PATCH", "/apis/example.test/v1/namespaces/%s/widgets/%s%s" % (ns, name, "/" + sub if sub else ""),
                              patch, "application/merge-patch+json")
        assert code == 200, (code, obj)
        return obj

    def delete(self, ns, name):
        return self.call("DELETE", "/apis/example.test/v1/namespaces/%s/widgets/%s" % (ns, name))

    def current_rv(self):
        code, obj = self.call("GET", "/api/v1/namespaces?limit=1")
        return obj["metadata"]["resourceVersion"]

    def namespace(self, name):
        code, obj = self.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        assert code == 201, (code, obj)

    def compact(self):
        return self.call("POST", "/__test/compact", {})
