#!/usr/bin/python3
"""Replays kube-api-samples against the test API server and checks the recorded behaviour.

Usage: /usr/bin/python3 tests/fidelity/run_fidelity.py --samples /work/shared/kube-api-samples \
           --server tests/support/testapiserver/server.py [--only 03] [-v]
Prints one line per checked block and ends with 'N passed, M failed, K skipped'; exit 0 iff M == 0.
"""
import argparse
import ast
import json
import os
import re
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import client  # noqa: E402
import compare  # noqa: E402
import harness  # noqa: E402
import samples  # noqa: E402
import scenarios  # noqa: E402

# client-chosen times (echoed back exactly); server-set ones (creationTimestamp, ...) are only shape-checked
TS_IN_TEXT = re.compile(r'"(?:acquireTime|renewTime|eventTime|firstTimestamp|lastTimestamp|deprecatedFirstTimestamp|'
                        r'deprecatedLastTimestamp)"\s*:\s*"([^"]+)"')


class Tally:
    def __init__(self, verbose):
        self.passed = self.failed = self.skipped = 0
        self.verbose = verbose

    def report(self, fname, title, errors, skip=None):
        if skip:
            self.skipped += 1
            print("SKIP %s | %s: %s" % (fname, title, skip))
        elif errors:
            self.failed += 1
            print("FAIL %s | %s" % (fname, title))
            for e in errors[: (50 if self.verbose else 6)]:
                print("     - %s" % e)
        else:
            self.passed += 1
            print("PASS %s | %s" % (fname, title))
        sys.stdout.flush()


def parse_recorded_json(lines):
    text = "\n".join(lines).strip()
    if not text or text[0] not in "{[":
        return None, text
    obj, end = json.JSONDecoder().raw_decode(text)
    return obj, text


def request_headers(req, mapper):
    h = [("User-Agent", harness.UA)]
    if req.user is None:
        pass
    elif req.user.startswith("!"):
        h.append(("Authorization", "Bearer " + req.user[1:]))
    elif req.user in harness.TOKENS:
        h.append(("Authorization", "Bearer " + harness.TOKENS[req.user]))
    for k, v in req.headers:
        h.append((k, v))
    return h


def check_headers(rec, act, errors, body_ok=True):
    def one(name):
        return rec.header(name), act.header(name)
    for name in ("Content-Type", "Cache-Control", "Retry-After", "X-Content-Type-Options", "Vary"):
        r, a = one(name)
        if r != a:
            errors.append("header %s: %s != recorded %s" % (name, a, r))
    rw, aw = one("Warning")
    if [compare.norm_message(x) for x in rw] != [compare.norm_message(x) for x in aw]:
        errors.append("Warning headers %s != recorded %s" % (aw, rw))
    r, a = one("Transfer-Encoding")
    if r != a:
        errors.append("Transfer-Encoding %s != recorded %s (body length %d)" % (a, r, len(act.body)))
    if rec.header("Etag") and not act.header("Etag"):
        errors.append("missing Etag header")


def compare_body(rec, act, mapper, errors, trim=None):
    rec_obj, rec_text = parse_recorded_json(rec.body_lines)
    ctype = (rec.header("Content-Type") or [""])[0]
    if rec_obj is None:
        if "yaml" in ctype:
            import yaml
            try:
                a = yaml.safe_load(act.body.decode())
                r = yaml.safe_load(rec_text)
            except Exception as e:
                errors.append("yaml: %s" % e)
                return
            c = compare.Comparer(mapper)
            c.cmp(r, a)
            errors.extend(c.errors)
            # YAML key order: sigs.k8s.io/yaml writes sorted keys
            if act.body.decode().splitlines()[0:1] != rec_text.splitlines()[0:1]:
                errors.append("yaml first line %r != %r" % (act.body.decode().splitlines()[0:1], rec_text.splitlines()[0:1]))
            return
        if rec_text.startswith("b'") or rec_text.startswith('b"'):
            exp = ast.literal_eval(rec_text.splitlines()[0])
            if act.body != exp:
                errors.append("body %r != recorded %r" % (act.body[:120], exp[:120]))
            return
        want = rec_text + "\n" if ctype.startswith("text/plain") else rec_text
        got = act.body.decode("utf-8", errors="replace")
        if got.rstrip("\n") != want.rstrip("\n"):
            errors.append("body %r != recorded %r" % (got[:200], want[:200]))
        return
    try:
        act_obj = json.loads(act.body)
    except ValueError:
        errors.append("response body is not JSON: %r" % act.body[:200])
        return
    if trim:
        act_obj = trim(rec_obj, act_obj, errors)
    c = compare.Comparer(mapper)
    c.cmp(rec_obj, act_obj)
    errors.extend(c.errors)
    # pretty printing: curl UA -> indent 2, no trailing newline
    if act.body.endswith(b"\n") and act.body.strip().startswith(b"{\n"):
        errors.append("pretty body ends with a newline")


def trim_groups(rec, act, errors):
    names = [g["name"] for g in rec.get("groups", [])] if "groups" in rec else [i["metadata"]["name"] for i in rec.get("items", [])]
    if "groups" in act:
        order = [g["name"] for g in act["groups"]]
        if order and order[-1] != "example.test":
            errors.append("CRD group not appended after the built-in groups: %s" % order)
        act = dict(act, groups=[g for g in act["groups"] if g["name"] in names])
    if "items" in act:
        act = dict(act, items=[i for i in act["items"] if i["metadata"]["name"] in names])
    return act


class Runner:
    def __init__(self, args):
        self.args = args
        self.tally = Tally(args.verbose)
        self.crd = os.path.join(args.samples, "00-crd-widget.yaml")

    # ---- sessions ----
    def run(self):
        for session in scenarios.SESSIONS:
            if self.args.only and not any(f.startswith(tuple(self.args.only)) for f in session):
                continue
            self.run_session(session)
        t = self.tally
        print("%d passed, %d failed, %d skipped" % (t.passed, t.failed, t.skipped))
        return 0 if t.failed == 0 else 1

    def run_session(self, files):
        cfg = scenarios.CONFIG.get(files[0], {})
        ns = cfg.get("namespaces", scenarios.NS_AB)
        try:
            srv = harness.Server(self.args.server, [self.crd], ns, cfg.get("args", []))
        except Exception as e:
            for f in files:
                self.tally.report(f, "<server start>", ["server failed to start: %s" % e])
            return
        self.srv = srv
        self.mapper = compare.Mapper()
        self.webhook = None
        self.last_calls = []
        try:
            if cfg.get("webhook"):
                self.start_webhook()
            for f in files:
                self.run_file(f)
        finally:
            if self.webhook:
                self.webhook.stop()
            err = srv.stderr()
            if "Traceback" in err:
                print("     (server stderr had a traceback)\n" + "\n".join("     | " + l for l in err.splitlines()[-15:]))
            srv.stop()

    def start_webhook(self):
        import base64
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(self.args.server))))
        import tlsfiles
        import webhook
        d = tempfile.mkdtemp(prefix="fidelity-wh-")
        ca, crt, key = tlsfiles.ensure(d)
        self.mapper.ca_bundle = base64.b64encode(open(ca, "rb").read()).decode()
        self.webhook = webhook.Webhook(9443, crt, key)

    def run_file(self, fname):
        cfg = scenarios.CONFIG.get(fname, {})
        blocks, trailing = samples.parse_file(os.path.join(self.args.samples, fname))
        try:
            if cfg.get("setup"):
                cfg["setup"](self.srv, self.mapper)
        except Exception as e:
            self.tally.report(fname, "<setup>", ["setup failed: %s" % e])
            return
        self._pblock = None
        skip_titles = set()
        if cfg.get("parallel"):
            for i, b in enumerate(blocks[:-1]):
                if "parallel" in blocks[i + 1].title:
                    self._pblock = blocks[i + 1]
                    skip_titles.add(blocks[i + 1].title)
        self._last_role_body = None
        for b in blocks:
            if b.title in skip_titles:
                continue
            for ann in b.annotations_before:
                self.annotation(fname, cfg, ann)
            for key, fn in cfg.get("before", {}).items():
                if key in b.title:
                    fn(self.srv, self.mapper)
            for key, rec in cfg.get("bind_current", {}).items():
                if key in b.title:
                    self.mapper.bind_rv(rec, self.srv.current_rv())
            try:
                self.run_block(fname, cfg, b)
            except Exception as e:
                self.tally.report(fname, b.title, ["harness error: %s\n%s" % (e, traceback.format_exc())])

    def annotation(self, fname, cfg, ann):
        for key, fn in cfg.get("annotations", {}).items():
            if key in ann:
                fn(self.srv, self.mapper)
        if "webhook server" in ann and "stopped" in ann and self.webhook:
            self.webhook.stop()
            self.webhook = None
        if "switched both configurations to failurePolicy: Ignore" in ann:
            for kind in ("mutatingwebhookconfigurations/widgets-mutator", "validatingwebhookconfigurations/widgets-validator"):
                self.srv.call("PATCH", "/apis/admissionregistration.k8s.io/v1/" + kind,
                              [{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}],
                              "application/json-patch+json")

    # ---- blocks ----
    def run_block(self, fname, cfg, b):
        skip = scenarios.SKIP.get((fname, b.title))
        if skip:
            return self.tally.report(fname, b.title, [], skip)
        if cfg.get("run_block"):   # 22-24: kubectl blocks, tokens, controllers (extra_samples.py)
            return cfg["run_block"](self, fname, cfg, b)
        if "webhook received" in b.title:
            return self.check_webhook_block(fname, b)
        req_lines = b.section("request")
        resp_lines = b.section("response")
        if req_lines is None:
            return
        req = samples.parse_request(req_lines)
        if resp_lines is not None and samples.parse_response(resp_lines) is None:
            resp_lines = None
        if "watch=1" in req.path and resp_lines and samples.parse_response(resp_lines).status == 200:
            return self.watch_block(fname, cfg, b, req, samples.parse_response(resp_lines))
        body = req.body
        if fname.startswith("14-") and "1025-byte note" in b.title:
            body = json.dumps({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "ev1.e3"},
                               "eventTime": "2026-11-23T11:30:00.000000Z", "reportingController": "example.test/widget-controller",
                               "reportingInstance": "widget-controller-0", "action": "Resize", "reason": "Resized",
                               "type": "Info", "note": "x" * 1025,
                               "regarding": {"apiVersion": "example.test/v1", "kind": "Widget", "name": "ev1", "namespace": "tenant-a"}})
        body = self.described_body(b, req, body)
        for ts in TS_IN_TEXT.findall(body):
            self.mapper.literals.add(ts)
        body = self.mapper.rewrite_text(body)
        path = self.mapper.rewrite_path(req.path)
        calls_before = len(self.webhook.calls) if self.webhook else 0
        if resp_lines is None:
            # 20: the real server panics on a protobuf body; ours answers 415 (README: 'a test server should rather answer 415')
            act = client.request(self.srv.addr, self.srv.ca, req.method, path, request_headers(req, self.mapper), body.encode())
            errs = [] if act.status == 415 else ["expected the documented 415 instead of a dropped connection, got %s" % act.status]
            return self.tally.report(fname, b.title + " [deviation: 415 instead of the recorded panic]", errs)
        rec = samples.parse_response(resp_lines)
        act = client.request(self.srv.addr, self.srv.ca, req.method, path, request_headers(req, self.mapper), body.encode())
        self.last_calls = self.webhook.calls[calls_before:] if self.webhook else []
        errors = []
        if act.error:
            errors.append("transport error: %s" % act.error)
        if act.status != rec.status:
            errors.append("status %d != recorded %d (body %s)" % (act.status, rec.status, act.body[:300]))
        check_headers(rec, act, errors)
        trim = trim_groups if "trimmed" in b.title else None
        compare_body(rec, act, self.mapper, errors, trim)
        self.tally.report(fname, b.title, errors)

    def described_body(self, b, req, body):
        """16: some request bodies are only described ('the Role above renamed r-nouid, ... without uid')."""
        if body.strip():
            if req.path.endswith("/roles") and self._last_role_body is None:
                self._last_role_body = body
            return body
        note = " ".join(l for l in (b.section("response") or []) if l.strip().startswith("(request body ="))
        m = re.search(r"the Role above renamed ([\w-]+)", note)
        if not m or not self._last_role_body:
            return body
        role = json.loads(self._last_role_body)
        role["metadata"]["name"] = m.group(1)
        ref = role["metadata"]["ownerReferences"][0]
        m2 = re.search(r"without '(\w+)'", note)
        if m2:
            ref.pop(m2.group(1), None)
        if "'v1/x/y'" in note:
            ref["apiVersion"] = "v1/x/y"
        if "second ref" in note:
            role["metadata"]["ownerReferences"].append({"apiVersion": "example.test/v1", "kind": "Widget", "name": "other",
                                                        "uid": "11111111-1111-1111-1111-111111111111", "controller": True,
                                                        "blockOwnerDeletion": True})
        return json.dumps(role, indent=2)

    def check_webhook_block(self, fname, b):
        errors = []
        m = re.search(r"POST (/\w+)\?timeout=(\d+)s", b.title)
        path = m.group(1) + "?timeout=%ss" % m.group(2)
        calls = [c for c in self.last_calls if c["path"] == path]
        if not calls:
            return self.tally.report(fname, b.title, ["webhook did not receive %s (got %s)" % (path, [c["path"] for c in self.last_calls])])
        call = calls[0]
        self.last_calls = [c for c in self.last_calls if c is not call]
        hdr = b.section("HTTP headers sent")
        for line in hdr or []:
            if ":" in line and not line.startswith("Content-Length"):
                k, v = line.split(":", 1)
                got = call["headers"].get(k.strip())
                if got != v.strip():
                    errors.append("webhook header %s: %r != recorded %r" % (k, got, v.strip()))
        rec_body, _ = parse_recorded_json(b.section("AdmissionReview request body"))
        c = compare.Comparer(self.mapper)
        c.cmp(rec_body, call["body"])
        errors.extend(c.errors)
        self.tally.report(fname, b.title, errors)

    # ---- watches ----
    def watch_block(self, fname, cfg, b, req, rec):
        path = self.mapper.rewrite_path(req.path)
        headers = request_headers(req, self.mapper)
        action = None
        for key, fn in cfg.get("watch", {}).items():
            if key in b.title:
                action = fn
                break
        streams = [client.Stream(self.srv.addr, self.srv.ca, path, headers)]
        parallel = None
        if cfg.get("parallel"):
            parallel = self._parallel_block
            if parallel is not None:
                preq = samples.parse_request(parallel.section("request"))
                streams.append(client.Stream(self.srv.addr, self.srv.ca, self.mapper.rewrite_path(preq.path),
                                             request_headers(preq, self.mapper)))
        if action:
            action(self.srv, streams)
        m = re.search(r"timeoutSeconds=(-?\d+)", req.path)
        limit = (int(m.group(1)) + 2.0) if m and int(m.group(1)) > 0 else 3.0
        for s in streams:
            s.wait_end(limit)
            s.stop()
        results = [(b, rec, streams[0])]
        if parallel is not None:
            results.append((parallel, samples.parse_response(parallel.section("response")), streams[1]))
            self._parallel_done = True
        for blk, r, s in results:
            errors = []
            self.compare_watch(fname, blk, r, s, errors)
            self.tally.report(fname, blk.title, errors)

    @property
    def _parallel_block(self):
        return getattr(self, "_pblock", None)

    def compare_watch(self, fname, b, rec, s, errors):
        act = s.resp
        if act.status != rec.status:
            errors.append("status %d != recorded %d" % (act.status, rec.status))
        check_headers(rec, act, errors)
        raw = any(l.startswith("t+") for l in rec.body_lines)
        rec_events = []
        for l in rec.body_lines:
            l = l.strip()
            if raw:
                m = re.match(r"t\+\s*[\d.]+s\s+(b'.*')$", l)
                if m:
                    chunk = ast.literal_eval(m.group(1))
                    if chunk.startswith(b"{"):
                        rec_events.append(json.loads(chunk))
            elif l.startswith("{"):
                rec_events.append(json.loads(l))
        act_events = []
        for t, chunk in act.chunks:
            if not chunk.endswith(b"\n") or chunk.count(b"\n") != 1:
                errors.append("chunk is not exactly one '\\n'-terminated event: %r" % chunk[:80])
            for line in chunk.splitlines():
                if line.strip():
                    act_events.append(json.loads(line))
        rtypes = [(e["type"], e["object"].get("metadata", {}).get("name")) for e in rec_events]
        atypes = [(e["type"], e["object"].get("metadata", {}).get("name")) for e in act_events]
        if rtypes != atypes:
            errors.append("events %s != recorded %s" % (atypes, rtypes))
        else:
            c = compare.Comparer(self.mapper)
            for i, (r, a) in enumerate(zip(rec_events, act_events)):
                c.cmp(r, a, "event[%d]" % i)
            errors.extend(c.errors)
        notes = " ".join(x for name, lines in b.sections if name == "##" for x in lines)
        ended_clean = act.ended
        if "still running" in notes or "had not ended" in notes or "client closed" in b.title or "client closed" in notes \
                or "stopped by the client" in b.title:
            if getattr(s, "stop_check", True) is False:
                errors.append("server ended a stream the client should have closed")
        elif "stream ended" in notes or "server ends" in b.title or "ended by the server" in notes or "stream ends" in b.title \
                or "ERROR" in "".join(rec.body_lines) or "timeoutSeconds" in b.title:
            if not ended_clean:
                errors.append("stream did not end cleanly (zero-length chunk)")
        # timing the recordings state: end at timeoutSeconds, 410/-1 end at once, bookmark ~2 s before the deadline
        m = re.search(r"timeoutSeconds=(-?\d+)", b.section("request")[0])
        t = int(m.group(1)) if m else None
        if act.ended_at is not None:
            if t and t > 0 and not any(e["type"] == "ERROR" for e in act_events) and abs(act.ended_at - t) > 0.8:
                errors.append("stream ended at %.2fs, expected ~%ds" % (act.ended_at, t))
            if (t is not None and t < 0 or any(e["type"] == "ERROR" for e in act_events)) and act.ended_at > 0.5:
                errors.append("stream should end at once, ended at %.2fs" % act.ended_at)
        if t and t > 0:
            for (ct, chunk) in act.chunks:
                if b'"BOOKMARK"' in chunk and not (t - 2.6 <= ct <= t - 0.5):
                    errors.append("bookmark at %.2fs, expected ~2 s before the %ds deadline" % (ct, t))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--samples", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--only", action="append")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    args.samples = os.path.abspath(args.samples)
    args.server = os.path.abspath(args.server)
    r = Runner(args)
    return r.run()


if __name__ == "__main__":
    sys.exit(main())
