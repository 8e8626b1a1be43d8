"""Replay of samples 22-24 (recorded with kube-controller-manager): per-file setup, a block runner that handles kubectl
blocks (kubectl_blocks.py), ServiceAccount tokens (token_samples.py) and controller timing (GETs are polled for up to
5 s until they match, since the recorded ones were taken after the controllers had acted), and the bodies the files
declare trimmed.

Trimming rules (declared in the file headers/titles): `metadata.managedFields` is dropped from our body wherever the
recorded object has none; 23's Pod bodies "reduced to kind + name/uid" are compared on the recorded keys only; 22's
"rules reduced to the example.test ones" keep only rules naming example.test; 24's event names `<name>.<16 hex>`
(time-based) are matched by prefix.

The server runs with `--controllers` (namespace controller, garbage collector, default ServiceAccounts) for these
files; 17b runs without, as recorded.
"""
import json
import re
import time

import client
import compare
import kubectl_blocks
import samples
import token_samples

NS_AB = ["default", "kube-system", "keygate-system", "tenant-a", "tenant-b"]
POLL_SECONDS = 5.0
STATE = {}


def _kubectl(runner):
    kc = STATE.get("kubectl")
    if kc is None or kc.srv is not runner.srv:
        kc = STATE["kubectl"] = kubectl_blocks.Kubectl(runner.srv)
    return kc


# ---- setups / annotations ------------------------------------------------------------------

def setup_22(h, m):
    STATE.clear()


def ann_22_w1(h, m):
    h.widget("rbac-verbs", "w1")


def ann_22_files(h, m):
    kc = STATE["kubectl"] if "kubectl" in STATE else None
    if kc is None:
        return
    code, out, err = kc.run("kubectl --kubeconfig kubeconfig-dave -n rbac-verbs get widget w1 -o yaml")
    assert code == 0, err
    kc.write("w1.yaml", out.replace("size: 3", "size: 5"))
    norv = "\n".join(l for l in out.replace("size: 3", "size: 6").splitlines() if "resourceVersion:" not in l) + "\n"
    kc.write("w1-norv.yaml", norv)
    kc.write("w1-apply.yaml", "apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: rbac-verbs\n"
                              "spec:\n  color: red\n  mode: fast\n  size: 9\n")


def setup_23(h, m):
    STATE.clear()
    STATE["tokens"] = token_samples.Tokens()
    STATE["tokens"].mapper = m


def ann_23_ns(h, m):
    h.namespace("tok")


def _binding(kind, ns, name, user, role):
    path = "/apis/rbac.authorization.k8s.io/v1/" + ("namespaces/%s/rolebindings" % ns if ns else "clusterrolebindings")
    return path, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                  "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}


def ann_23_carol(h, m):
    code, _ = h.call("POST", *_binding("ClusterRoleBinding", None, "carol-tokenreviewer", "carol", "tokenreviewer"))
    assert code == 201, code


def ann_23_dave(h, m):
    code, _ = h.call("POST", *_binding("RoleBinding", "tok", "dave-tokenreviewer", "dave", "tokenreviewer"))
    assert code == 201, code


def ann_23_exp5(h, m):
    STATE["tokens"].advance_to_exp(h, 5)


def ann_23_exp65(h, m):
    STATE["tokens"].advance_to_exp(h, 65)


def before_23_t12(h, m):
    h.call("POST", "/__test/clock", {"advanceSeconds": 11})   # past the 10 s token cache


def setup_24(h, m):
    STATE.clear()


def ann_24_role4(h, m):
    code, _ = h.call("PATCH", "/apis/rbac.authorization.k8s.io/v1/namespaces/gc/roles/role4",
                     {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert code == 200, code


CONTROLLERS = ["--controllers", "--namespace-deletion-delay", "0.5"]
CONFIG = {
    "22-rbac-verbs-and-aggregation.txt": {
        "namespaces": NS_AB + ["rbac-verbs", "agg"], "args": CONTROLLERS, "setup": setup_22,
        "annotations": {"admin created Widget rbac-verbs/w1": ann_22_w1, "w1.yaml = `kubectl get widget w1": ann_22_files},
        "bind_current": {"PUT on the wire as dave": "1352"}},
    "23-tokenreview-tokenrequest.txt": {
        "args": CONTROLLERS, "setup": setup_23,
        "annotations": {"Setup: namespace tok": ann_23_ns, "ClusterRoleBinding carol-tokenreviewer": ann_23_carol,
                        "RoleBinding tok/dave-tokenreviewer": ann_23_dave, "time now = exp + 5 s": ann_23_exp5,
                        "time now = exp + 65 s": ann_23_exp65},
        "before": {"at t+12s": before_23_t12}},
    "24-namespace-deletion-finalizers.txt": {
        "args": CONTROLLERS, "setup": setup_24, "annotations": {"cleanup: role4's finalizer removed": ann_24_role4}},
}
for _c in CONFIG.values():
    _c["run_block"] = lambda runner, fname, cfg, b: run_block(runner, fname, cfg, b)
SESSIONS = [["22-rbac-verbs-and-aggregation.txt"], ["23-tokenreview-tokenrequest.txt"],
            ["24-namespace-deletion-finalizers.txt"]]


# ---- block runner --------------------------------------------------------------------------

def _align(rec, act, key=None, title=""):
    """Applies the declared trimming to our body (see module doc)."""
    if isinstance(rec, dict) and isinstance(act, dict):
        if "managedFields" in act and "managedFields" not in rec and key == "metadata":
            act = {k: v for k, v in act.items() if k != "managedFields"}
        if rec.get("kind") == "Pod" and "spec" not in rec:     # 23: Pod bodies reduced to kind + name/uid
            act = {k: v for k, v in act.items() if k in rec}
            if isinstance(act.get("metadata"), dict) and isinstance(rec.get("metadata"), dict):
                act["metadata"] = {k: v for k, v in act["metadata"].items() if k in rec["metadata"]}
        if "rules reduced to the example.test ones" in title and isinstance(act.get("rules"), list) and key is None:
            act = dict(act, rules=[r for r in act["rules"] if "example.test" in (r.get("apiGroups") or [])])
            # the recording re-serialised the reduced body: its key order is the recorder's, not the server's
            act = dict([(k, act[k]) for k in rec if k in act] + [(k, v) for k, v in act.items() if k not in rec])
        if key == "metadata" and isinstance(rec.get("name"), str) and isinstance(act.get("name"), str):
            mr, ma = re.fullmatch(r"(.+\.)[0-9a-f]{16}", rec["name"]), re.fullmatch(r"(.+\.)[0-9a-f]{16}", act["name"])
            if mr and ma and mr.group(1) == ma.group(1):
                act = dict(act, name=rec["name"])
        return {k: (_align(rec[k], v, k, title) if k in rec else v) for k, v in act.items()}
    if isinstance(rec, list) and isinstance(act, list):
        return [_align(r, a, key, title) for r, a in zip(rec, act)] + act[len(rec):]
    return act


def _snapshot(m):
    return (dict(m.rv), dict(m.rv_rev), dict(m.uid), dict(m.names), set(m.literals))


def _restore(m, s):
    m.rv, m.rv_rev, m.uid, m.names, m.literals = dict(s[0]), dict(s[1]), dict(s[2]), dict(s[3]), set(s[4])


def run_block(runner, fname, cfg, b):
    import run_fidelity as rf
    if b.section("command") is not None:
        errors, label = kubectl_blocks.check(_kubectl(runner), b)
        return runner.tally.report(fname, b.title + label, errors)
    _kubectl(runner)
    req_lines, resp_lines = b.section("request"), b.section("response")
    if req_lines is None or resp_lines is None:
        return
    req = samples.parse_request(req_lines)
    rec = samples.parse_response(resp_lines)
    toks = STATE.get("tokens")
    body, auth, subst = req.body, None, {}
    if toks is not None:
        body, auth, subst = toks.prepare(b, req, body)
    m = runner.mapper
    if body.strip().startswith("(the last GET body minus metadata.managedFields and minus the rules for example.test"):
        code, live = runner.srv.call("GET", req.path)
        live["metadata"].pop("managedFields", None)
        live["rules"] = [r for r in live["rules"] if "example.test" not in (r.get("apiGroups") or [])]
        body = json.dumps(live)
    else:
        body = m.rewrite_text(body)
    path = m.rewrite_path(req.path)
    headers = rf.request_headers(req, m)
    if auth:
        headers = [h for h in headers if h[0] != "Authorization"] + [("Authorization", "Bearer " + auth)]
    poll = req.method == "GET" and not fname.startswith("23")
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        snap = _snapshot(m)
        act = client.request(runner.srv.addr, runner.srv.ca, req.method, path, headers, body.encode())
        errors = []
        if act.error:
            errors.append("transport error: %s" % act.error)
        if act.status != rec.status:
            errors.append("status %d != recorded %d (body %s)" % (act.status, rec.status, act.body[:300]))
        rf.check_headers(rec, act, errors)

        def trim(rec_obj, act_obj, errs):
            if toks is not None:
                act_obj = toks.after(b, act_obj, subst, errs)
            return _align(rec_obj, act_obj, None, b.title)
        if act.body[:1] in (b"{", b"["):
            rf.compare_body(rec, act, m, errors, trim)
        else:
            rf.compare_body(rec, act, m, errors)
        if not errors or not poll or time.monotonic() > deadline:
            break
        _restore(m, snap)
        time.sleep(0.05)
    runner.tally.report(fname, b.title, errors)
