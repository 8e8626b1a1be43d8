"""Replays the kubectl blocks of samples 21-24 (`--- command`, `--- stdout`, `--- stderr`, title `-> exit N`) with the
real /usr/bin/kubectl against the test server.

Each user gets `kubeconfig-<user>` (token auth, the server's CA) in a per-session working directory, so the recorded
command lines run unchanged (`kubectl` resolves to /usr/bin/kubectl). Compared: exit code, stdout and stderr after
normalising temp file names (`/tmp/kubectl-edit-<random>.yaml`). The recording used kubectl v1.28.15; this machine has
v1.32, whose -v=6/-v=8 log format differs: for those blocks only the sequence of API requests (method + path, without
host, `hash`/`timeout` parameters) and the last stderr line are compared, and the block is labelled approximate.
"""
import os
import re
import subprocess
import tempfile

import harness

KUBECTL = "/usr/bin/kubectl"


class Kubectl:
    def __init__(self, srv):
        self.srv = srv
        self.dir = tempfile.mkdtemp(prefix="fidelity-kubectl-")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        for user, token in harness.TOKENS.items():
            with open(os.path.join(self.dir, "kubeconfig-" + user), "w") as fh:
                fh.write(KUBECONFIG % {"server": "https://%s:%d" % srv.addr, "ca": srv.ca, "user": user, "token": token})

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as fh:
            fh.write(text)

    def run(self, command, timeout=60):
        cmd = command[2:] if command.startswith("$ ") else command
        env = dict(os.environ, HOME=self.home, TMPDIR="/tmp", KUBECACHEDIR=os.path.join(self.home, "cache"))
        env.pop("KUBECONFIG", None)
        p = subprocess.run(["bash", "-c", cmd], cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %(server)s
    certificate-authority: %(ca)s
users:
- name: %(user)s
  user:
    token: %(token)s
contexts:
- name: test
  context:
    cluster: test
    user: %(user)s
current-context: test
"""


def _text(lines):
    lines = list(lines or [])
    while lines and not lines[-1].strip():
        lines.pop()
    text = "\n".join(lines)
    return "" if text.strip() == "(empty)" else text


def _norm(text):
    text = re.sub(r"/tmp/kubectl-edit-[^ \n]*\.yaml", "/tmp/kubectl-edit-<random>.yaml", text)
    return text.rstrip("\n")


REQ = re.compile(r'(?:^|\s|verb=")(GET|PUT|PATCH|POST|DELETE)"?\s+(?:url=")?(https://[^\s"]+)')


def _requests(text):
    out = []
    for m in REQ.finditer(text):
        url = m.group(2)
        path = re.sub(r"^https://[^/]+", "", url)
        base, _, q = path.partition("?")
        q = "&".join(p for p in q.split("&") if p and not p.startswith(("hash=", "timeout=")))
        item = (m.group(1), base + ("?" + q if q else ""))
        if not out or out[-1] != item:
            out.append(item)
    return out


def check(kc, b):
    """Runs one kubectl block; returns (errors, label suffix)."""
    command = _text(b.section("command")).strip()
    want_out = _text(b.section("stdout"))
    want_err = _text(b.section("stderr"))
    m = re.search(r"-> exit (\d+)", b.title)
    want_code = int(m.group(1)) if m else 0
    code, out, err = kc.run(command)
    errors = []
    if code != want_code:
        errors.append("exit %d != recorded %d (stderr %r)" % (code, want_code, err[-300:]))
    if _norm(out) != _norm(want_out):
        errors.append("stdout %r != recorded %r" % (out[:400], want_out[:400]))
    if re.search(r"\s-v=?[6-9]\b", command):
        rec_reqs = [r for r in _requests(want_err) if "/openapi/" not in r[1]]
        act_reqs = [r for r in _requests(err) if "/openapi/" not in r[1]]
        if rec_reqs != act_reqs:
            errors.append("API requests %s != recorded %s" % (act_reqs, rec_reqs))
        rec_oa = {r[1] for r in _requests(want_err) if "/openapi/v3/" in r[1]}
        act_oa = {r[1] for r in _requests(err) if "/openapi/v3/" in r[1]}
        if rec_oa - act_oa:
            errors.append("openapi v3 documents fetched %s, recorded %s" % (sorted(act_oa), sorted(rec_oa)))
        rl = [l for l in want_err.splitlines() if l.strip()]
        al = [l for l in err.splitlines() if l.strip()]
        if rl and rl[-1].startswith("Error") and (not al or _norm(al[-1]) != _norm(rl[-1])):
            errors.append("last stderr line %r != recorded %r" % (al[-1:] or "", rl[-1]))
        return errors, " [approximate: kubectl v1.32 -v log format; requests + result compared]"
    if _norm(err) != _norm(want_err):
        errors.append("stderr %r != recorded %r" % (err[:600], want_err[:600]))
    return errors, ""
