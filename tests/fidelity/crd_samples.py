"""Replay of sample 21 (CRD create/update validation and custom resources of each accepted CRD).

Per the file header:
- a 201/200 CRD body is shown in full once (A2); later ones are trimmed to kind/apiVersion/metadata without
  managedFields/status: our body is trimmed the same way wherever the recorded body has no `spec` / no
  `metadata.managedFields`; custom-resource bodies have metadata.managedFields dropped.
- between a CRD's 201 and its first custom resource the recorder waited until the CRD was Established and its
  list URL answered 200: after every CRD 201 we poll the CRD until its conditions are set (Established True, or
  NamesAccepted False for the conflict cases E9/E11) and, when established, its list URL until 200.
- F: request bodies are "the CRD as last read": their metadata.resourceVersion is bound to the live CRD's before
  the request is rewritten. After a CRD PUT 200 we wait until the new schema is served (the real server also
  swaps its handler asynchronously).
uids, resourceVersions and timestamps are normalised by compare.py as for the other files.
"""
import json
import time

import client
import compare
import samples

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
NS_AB = ["default", "kube-system", "keygate-system", "tenant-a", "tenant-b"]

# Blocks we cannot replay faithfully, with the reason (reported as SKIP, never silently).
SKIP = {}


def _trim(rec, act, key=None):
    if isinstance(rec, dict) and isinstance(act, dict):
        out = dict(act)
        rn, an = (rec.get("details") or {}).get("name"), (act.get("details") or {}).get("name")
        if rec.get("kind") == "Status" and isinstance(rn, str) and isinstance(an, str) and rn != an:
            g1, g2 = compare.GENNAME.match(rn), compare.GENNAME.match(an)
            if g1 and g2 and g1.group(1) == g2.group(1) and isinstance(out.get("message"), str):
                # a generated name inside the message (A4): details.name is still compared through the name mapping
                out["message"] = out["message"].replace('"%s"' % an, '"%s"' % rn)
        if key == "metadata" and "managedFields" not in rec:
            out.pop("managedFields", None)
        if rec.get("kind") == "CustomResourceDefinition" and "spec" not in rec:
            out.pop("spec", None)
        return {k: (_trim(rec[k], v, k) if k in rec else v) for k, v in out.items()}
    if isinstance(rec, list) and isinstance(act, list):
        return [_trim(r, a, key) for r, a in zip(rec, act)] + act[len(rec):]
    return act


def _conds(crd):
    return {c.get("type"): c.get("status") for c in ((crd or {}).get("status") or {}).get("conditions") or []}


def wait_established(srv, name, timeout=3.0):
    """Polls the CRD until the controllers have acted; returns the CRD (or the last one read)."""
    deadline = time.monotonic() + timeout
    crd = None
    while time.monotonic() < deadline:
        code, crd = srv.call("GET", CRDS + "/" + name)
        c = _conds(crd) if code == 200 else {}
        if c.get("Established") == "True" or c.get("NamesAccepted") == "False":
            break
        time.sleep(0.02)
    if _conds(crd).get("Established") == "True":
        spec = crd["spec"]
        v = [x["name"] for x in spec["versions"] if x.get("served")][0]
        path = "/apis/%s/%s/%s%s" % (spec["group"], v, "namespaces/crd-val/" if spec["scope"] == "Namespaced" else "",
                                     spec["names"]["plural"])
        while time.monotonic() < deadline:
            code, _ = srv.call("GET", path)
            if code == 200:
                break
            time.sleep(0.02)
    return crd


def run_block(runner, fname, cfg, b):
    import run_fidelity as rf
    req_lines, resp_lines = b.section("request"), b.section("response")
    if req_lines is None or resp_lines is None:
        return
    skip = SKIP.get(b.title)
    if skip:
        return runner.tally.report(fname, b.title, [], skip)
    req = samples.parse_request(req_lines)
    rec = samples.parse_response(resp_lines)
    m = runner.mapper
    body = req.body
    is_crd = req.path.startswith(CRDS)
    if is_crd and req.method == "PUT" and body.strip():
        sent = json.loads(body)
        rv = (sent.get("metadata") or {}).get("resourceVersion")
        if rv:
            code, live = runner.srv.call("GET", req.path)
            if code == 200:
                m.bind_rv(rv, live["metadata"]["resourceVersion"])
    body = m.rewrite_text(body)
    path = m.rewrite_path(req.path)
    act = client.request(runner.srv.addr, runner.srv.ca, req.method, path, rf.request_headers(req, m), body.encode())
    errors = []
    if act.error:
        errors.append("transport error: %s" % act.error)
    if act.status != rec.status:
        errors.append("status %d != recorded %d (body %s)" % (act.status, rec.status, act.body[:600]))
    rf.check_headers(rec, act, errors)
    if act.body[:1] in (b"{", b"["):
        rf.compare_body(rec, act, m, errors, lambda r, a, e: _trim(r, a))
    else:
        rf.compare_body(rec, act, m, errors)
    runner.tally.report(fname, b.title, errors)
    if is_crd and req.method == "POST" and act.status == 201:
        wait_established(runner.srv, json.loads(act.body)["metadata"]["name"])
    if is_crd and req.method == "PUT" and act.status == 200:
        time.sleep(0.3)


def setup_21(h, m):
    h.namespace("crd-val")


CONFIG = {"21-crd-create-validation.txt": {"setup": setup_21, "run_block": run_block}}
SESSIONS = [["21-crd-create-validation.txt"]]
