#!/usr/bin/env python3
"""deploy/argocd/health-customizations.yaml: each Lua health check, run with lua5.4 the way
Argo CD runs it (a global `obj` holding the object, the script's return value is the health),
against fixture objects in every state. Exit 0 when every case gives the expected status and
message, 1 otherwise (each mismatch printed)."""
import json
import os
import subprocess
import sys
import tempfile

import yaml

SRC = os.environ.get("KEYGATE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
LUA = os.environ.get("KEYGATE_LUA", "lua5.4")


def lua_literal(v):
    if isinstance(v, dict):
        return "{" + ", ".join("[%s] = %s" % (json.dumps(k), lua_literal(x)) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "{" + ", ".join(lua_literal(x) for x in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nil"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(v)  # a double-quoted string; JSON escapes are valid Lua escapes here


def run(script, obj):
    program = "obj = %s\nlocal function check()\n%s\nend\nlocal hs = check()\nio.write(tostring(hs.status), '|', tostring(hs.message))\n" % (
        lua_literal(obj), script)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(program)
    try:
        out = subprocess.run([LUA, f.name], capture_output=True, text=True, timeout=10)
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        return "lua error: " + out.stderr.strip()
    return out.stdout


def key(state, gen=2, observed=2, ready=None):
    o = {"apiVersion": "keygate.dev/v1alpha1", "kind": "EncryptionKey", "metadata": {"name": "k", "generation": gen}}
    if state is not None:
        o["status"] = {"state": state, "observedGeneration": observed}
        if ready:
            o["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": state, "message": ready}]
    return o


def request(phase, approvals="1/2", gen=1, observed=1):
    o = {"kind": "KeyActivationRequest", "metadata": {"name": "r", "generation": gen}}
    if phase is not None:
        o["status"] = {"phase": phase, "observedGeneration": observed, "approvals": approvals}
    return o


def binding(ready, message, gen=1, observed=1, conditions=True):
    o = {"kind": "KeyRoleBinding", "metadata": {"name": "b", "generation": gen}, "status": {"observedGeneration": observed}}
    if conditions:
        o["status"]["conditions"] = [{"type": "Ready", "status": ready, "reason": "x", "message": message}]
    return o


CASES = {
    "keygate.dev_EncryptionKey": [
        (key(None), "Progressing|Waiting for the Keygate operator"),
        (key("Active", gen=3, observed=2), "Progressing|Waiting for the Keygate operator to observe generation 3"),
        (key("Pending"), "Progressing|Pending"),
        (key("PreActive", ready="waiting for 2 approvals"), "Suspended|PreActive: waiting for 2 approvals"),
        (key("Active"), "Healthy|Active"),
        (key("Deactivated"), "Healthy|Deactivated"),
        (key("DestroyScheduled"), "Suspended|DestroyScheduled"),
        (key("Destroyed"), "Healthy|Destroyed"),
        (key("Compromised", ready="leaked in CI logs"), "Degraded|Compromised: leaked in CI logs"),
        (key("Expired"), "Degraded|Expired"),
        (key("Failed", ready="spec.backend: unknown backend"), "Degraded|Failed: spec.backend: unknown backend"),
    ],
    "keygate.dev_KeyActivationRequest": [
        (request(None), "Progressing|Waiting for the Keygate operator"),
        (request("Pending", gen=2, observed=1), "Progressing|Waiting for the Keygate operator to observe generation 2"),
        (request("Pending", "0/2"), "Progressing|Pending, approvals 0/2"),
        (request("Approved", "2/2"), "Progressing|Approved, approvals 2/2"),
        (request("Activated", "2/2"), "Healthy|Activated, approvals 2/2"),
        (request("Denied", "0/2"), "Degraded|Denied, approvals 0/2"),
        (request("Expired"), "Degraded|Expired, approvals 1/2"),
        (request("Failed"), "Degraded|Failed, approvals 1/2"),
    ],
    "keygate.dev_KeyRoleBinding": [
        (binding(None, None, conditions=False), "Progressing|Waiting for the Keygate operator"),
        (binding("True", "ok", gen=2, observed=1), "Progressing|Waiting for the Keygate operator to observe generation 2"),
        (binding("True", "Role and RoleBinding keygate-b grant KeyApprover"), "Healthy|Role and RoleBinding keygate-b grant KeyApprover"),
        (binding("False", "review overdue since 2026-01-01"), "Degraded|review overdue since 2026-01-01"),
    ],
}


def main():
    with open(os.path.join(SRC, "deploy", "argocd", "health-customizations.yaml")) as f:
        data = yaml.safe_load(f)["data"]
    failures = 0
    for kind, cases in CASES.items():
        script = data.get("resource.customizations.health." + kind)
        if script is None:
            print("missing health check for " + kind)
            failures += 1
            continue
        for obj, want in cases:
            got = run(script, obj)
            if got != want:
                failures += 1
                print("%s %s: want %r, got %r" % (kind, json.dumps(obj.get("status")), want, got))
    extra = set(data) - {"resource.customizations.health." + k for k in CASES}
    if extra:
        print("untested entries: " + ", ".join(sorted(extra)))
        failures += 1
    total = sum(len(c) for c in CASES.values())
    print("%d of %d health cases as expected" % (total - failures, total))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
