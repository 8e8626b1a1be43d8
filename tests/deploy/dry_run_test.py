#!/usr/bin/env python3
"""`kubectl apply --dry-run=server` of every manifest keygate ships, against the test API server.

Every object of `kubectl kustomize deploy/` and of `helm template keygate charts/keygate -n keygate-system`
(default values, each charts/keygate/ci/*.yaml, and the crypto API off) is POSTed as admin with
`?dryRun=All&fieldValidation=Strict` to its API path and must answer 201. Kinds the test server does not
serve (cert-manager, prometheus-operator, ...) are listed as skipped. Namespaces are dry-run first, then
created for real so that namespaced objects have somewhere to go.

Negative cases: broken copies of deploy/'s Deployment and Service must be rejected with the 422 message
kube-apiserver 1.28 gives. A probe on an undeclared named port is NOT rejected by kube-apiserver (it only
checks the name's syntax; the kubelet fails the probe at run time), so the test server accepts it too and this
test's own lint (`named_port_problems`) catches it, for deploy/ and the chart as well.

Usage: dry_run_test.py [unittest args]     (needs kubectl and helm: scripts/install-test-tools.sh)
"""
import copy
import glob
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.parse
import urllib.request

import yaml

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER = os.path.join(SOURCE, "tests", "support", "testapiserver", "server.py")
CHART = os.path.join(SOURCE, "charts", "keygate")
NAMESPACE = "keygate-system"
TOKEN = "tok-admin"

HELM = None
KUBECTL = None
SRV = None
SKIPPED = []          # (source, kind, name, why)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout


def docs(text):
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind")]


def sources():
    """[(label, [objects])]"""
    out = [("kustomize deploy/", docs(run([KUBECTL, "kustomize", os.path.join(SOURCE, "deploy")])))]
    base = [HELM, "template", "keygate", CHART, "--namespace", NAMESPACE]
    out.append(("helm (default values)", docs(run(base))))
    for f in sorted(glob.glob(os.path.join(CHART, "ci", "*.yaml"))):
        out.append(("helm -f ci/%s" % os.path.basename(f), docs(run(base + ["-f", f]))))
    out.append((NO_DATA_PLANE, docs(run(base + ["--set", "dataPlane.enabled=false"]))))
    return out


NO_DATA_PLANE = "helm --set dataPlane.enabled=false"


# --- test API server ----------------------------------------------------------------------------

class Server:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="dry-run-")
        tokens = os.path.join(self.tmp, "tokens.csv")
        with open(tokens, "w") as fh:
            fh.write('%s,admin,uid-admin,"system:masters"\n' % TOKEN)
        self.err_path = os.path.join(self.tmp, "stderr")
        self.proc = subprocess.Popen([sys.executable, SERVER, "--crd", os.path.join(SOURCE, "crds"),
                                      "--tokens", tokens, "--tls-dir", os.path.join(self.tmp, "tls"),
                                      "--namespaces", "default,kube-system"],
                                     stdout=subprocess.PIPE, stderr=open(self.err_path, "w"), text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError("test API server did not start: %r\n%s" % (line, open(self.err_path).read()))
        _, self.url, ca = line.split()
        self.ctx = ssl.create_default_context(cafile=ca)
        self.paths = {}     # (apiVersion, kind) -> (plural, namespaced) or None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + TOKEN, "Accept": "application/json",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"message": raw.decode(errors="replace")}

    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key not in self.paths:
            path = "/api/v1" if api_version == "v1" else "/apis/" + api_version
            code, body = self.call("GET", path)
            found = None
            if code == 200:
                for r in body.get("resources") or []:
                    if r.get("kind") == kind and "/" not in r["name"]:
                        found = (r["name"], r["namespaced"])
            self.paths[key] = found
        return self.paths[key]

    def collection(self, obj):
        """API path of the collection obj is created in, or None when the kind is not served."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        if res is None:
            return None
        plural, namespaced = res
        base = "/api/v1" if obj["apiVersion"] == "v1" else "/apis/" + obj["apiVersion"]
        if namespaced:
            ns = (obj.get("metadata") or {}).get("namespace") or NAMESPACE
            return "%s/namespaces/%s/%s" % (base, ns, plural)
        return "%s/%s" % (base, plural)

    def dry_run(self, obj):
        return self.call("POST", self.collection(obj) + "?dryRun=All&fieldValidation=Strict", obj)


# --- lint: what kube-apiserver does not check but the kubelet needs ------------------------------

def named_port_problems(objs):
    """Probes and Service targetPorts naming a port no container (of the selected pods) declares."""
    problems = []
    templates = [(d["metadata"]["name"], d["spec"]["template"]) for d in objs
                 if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")]
    for name, tpl in templates:
        for c in (tpl.get("spec") or {}).get("containers") or []:
            ports = {p.get("name") for p in c.get("ports") or [] if p.get("name")}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                for how in ("httpGet", "tcpSocket"):
                    port = ((c.get(probe) or {}).get(how) or {}).get("port")
                    if isinstance(port, str) and port not in ports:
                        problems.append("%s %s: container %s %s.%s.port %r is not a declared port %s"
                                        % ("Deployment", name, c.get("name"), probe, how, port, sorted(ports)))
    for svc in (d for d in objs if d.get("kind") == "Service"):
        sel = (svc.get("spec") or {}).get("selector") or {}
        pods = [tpl for _, tpl in templates
                if sel and all(((tpl.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in sel.items())]
        for p in (svc.get("spec") or {}).get("ports") or []:
            tp = p.get("targetPort")
            if isinstance(tp, str) and pods:
                declared = {cp.get("name") for tpl in pods for c in (tpl.get("spec") or {}).get("containers") or []
                            for cp in c.get("ports") or []}
                if tp not in declared:
                    problems.append("Service %s: targetPort %r is not a port of the pods it selects %s"
                                    % (svc["metadata"]["name"], tp, sorted(x for x in declared if x)))
    return problems


# --- tests ----------------------------------------------------------------------------------------

class DryRun(unittest.TestCase):
    """One test per (source, object), added by add_object_tests()."""


NS_RESULTS = {}       # (source, name) -> (code, body): Namespaces are dry-run before they are created


def _object_test(label, obj):
    def test(self):
        if obj["kind"] == "Namespace" and obj["apiVersion"] == "v1":
            code, body = NS_RESULTS[(label, obj["metadata"]["name"])]
        else:
            code, body = SRV.dry_run(obj)
        self.assertEqual(code, 201, "%s %s/%s: %s" % (label, obj["kind"], obj["metadata"].get("name"),
                                                        (body or {}).get("message")))
        self.assertEqual(body["kind"], obj["kind"])
        self.assertTrue(body["metadata"].get("uid"))
    return test


def add_object_tests(all_sources):
    n = 0
    for label, objs in all_sources:
        for obj in objs:
            name = obj.get("metadata", {}).get("name", "")
            if SRV.collection(obj) is None:
                SKIPPED.append((label, obj["apiVersion"], obj["kind"], name))
                continue
            n += 1
            test_name = "test_%03d_%s_%s_%s" % (n, "".join(ch if ch.isalnum() else "_" for ch in label).strip("_"),
                                                obj["kind"], name.replace("-", "_").replace(".", "_"))
            setattr(DryRun, test_name, _object_test(label, obj))


class NamedPorts(unittest.TestCase):
    def test_no_undeclared_named_ports(self):
        for label, objs in ALL:
            with self.subTest(source=label):
                self.assertEqual(named_port_problems(objs), [])

    def test_crypto_service_reaches_the_crypto_port(self):
        # Every source serves the crypto API on Service <name>-crypto:443 (gRPC) -> container port
        # "crypto", except the chart with dataPlane.enabled=false, which renders none of it.
        for label, objs in ALL:
            with self.subTest(source=label):
                services = [d for d in objs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-crypto")]
                ports = {p["name"]: p["containerPort"] for d in objs if d["kind"] == "Deployment"
                         for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports") or []}
                if label == NO_DATA_PLANE:
                    self.assertEqual(services, [])
                    self.assertNotIn("crypto", ports)
                    continue
                self.assertEqual(len(services), 1)
                self.assertEqual(services[0]["spec"]["ports"],
                                 [{"name": "crypto", "port": 443, "targetPort": "crypto", "appProtocol": "grpc"}])
                self.assertEqual(ports.get("crypto"), 8443)

    def test_lint_finds_crypto_service_without_crypto_port(self):
        d = deploy_object("Deployment")
        container = d["spec"]["template"]["spec"]["containers"][0]
        container["ports"] = [p for p in container["ports"] if p["name"] != "crypto"]
        problems = named_port_problems([d, deploy_object("Service", "keygate-crypto")])
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("Service keygate-crypto: targetPort 'crypto' is not a port of the pods it selects", problems[0])


def deploy_object(kind, name=None):
    for d in ALL[0][1]:
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name):
            return copy.deepcopy(d)
    raise AssertionError("deploy/ has no %s %s" % (kind, name or ""))


class Negative(unittest.TestCase):
    def rejected(self, obj, *messages):
        code, body = SRV.dry_run(obj)
        self.assertEqual(code, 422, body)
        self.assertEqual(body["reason"], "Invalid")
        for m in messages:
            self.assertIn(m, body["message"])
        return body

    def test_volume_mount_of_undeclared_volume(self):
        d = deploy_object("Deployment")
        mounts = d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        mounts.append({"name": "x", "mountPath": "/x"})
        self.rejected(d, 'spec.template.spec.containers[0].volumeMounts[%d].name: Not found: "x"' % (len(mounts) - 1))

    def test_selector_does_not_match_template_labels(self):
        d = deploy_object("Deployment")
        d["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "other"}}
        labels = d["spec"]["template"]["metadata"]["labels"]
        shown = ", ".join('"%s":"%s"' % (k, labels[k]) for k in sorted(labels))
        self.rejected(d, "spec.template.metadata.labels: Invalid value: map[string]string{%s}: "
                         "`selector` does not match template `labels`" % shown)

    def test_two_mounts_at_one_path(self):
        d = deploy_object("Deployment")
        mounts = d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        mounts[-1]["mountPath"] = mounts[0]["mountPath"]
        self.rejected(d, 'spec.template.spec.containers[0].volumeMounts[%d].mountPath: Invalid value: "%s": must be unique'
                      % (len(mounts) - 1, mounts[0]["mountPath"]))

    def test_readiness_probe_on_undeclared_named_port(self):
        d = deploy_object("Deployment")
        d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = "nope"
        # kube-apiserver 1.28 checks only the name's syntax (ValidatePortNumOrName): accepted ...
        code, body = SRV.dry_run(d)
        self.assertEqual(code, 201, body)
        # ... so the lint has to find it
        problems = named_port_problems([d])
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("readinessProbe.httpGet.port 'nope' is not a declared port", problems[0])
        # a name that is not a valid port name is rejected by the server
        d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = "Not_A_Port"
        self.rejected(d, 'spec.template.spec.containers[0].readinessProbe.httpGet.port: Invalid value: "Not_A_Port": '
                         "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")

    def test_service_port_zero(self):
        s = deploy_object("Service")
        s["spec"]["ports"][0]["port"] = 0
        self.assertIsInstance(s["spec"]["ports"][0]["targetPort"], str)
        self.rejected(s, "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive")

    def test_request_above_limit(self):
        d = deploy_object("Deployment")
        d["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"memory": "1Gi"},
                                                                        "limits": {"memory": "512Mi"}}
        self.rejected(d, 'spec.template.spec.containers[0].resources.requests: Invalid value: "1Gi": '
                         "must be less than or equal to memory limit of 512Mi")

    def test_pvc_without_storage_request(self):
        p = deploy_object("PersistentVolumeClaim")
        del p["spec"]["resources"]
        self.rejected(p, "spec.resources[storage]: Required value")


ALL = []


def main():
    global HELM, KUBECTL, SRV
    KUBECTL = shutil.which("kubectl")
    if not KUBECTL:
        sys.exit("kubectl not found on PATH")
    HELM = os.environ.get("HELM") or run([os.path.join(SOURCE, "scripts", "install-test-tools.sh"), "--path"]).strip()
    if not os.access(HELM, os.X_OK):
        sys.exit("helm not found at %s: run scripts/install-test-tools.sh (make test does)" % HELM)
    ALL.extend(sources())
    SRV = Server()
    try:
        # Namespaces first: dry run, then for real (namespaced objects need them).
        namespaces = {NAMESPACE}
        for label, objs in ALL:
            for o in objs:
                if o["kind"] == "Namespace" and o["apiVersion"] == "v1":
                    NS_RESULTS[(label, o["metadata"]["name"])] = SRV.dry_run(o)
                    namespaces.add(o["metadata"]["name"])
                namespaces.add((o.get("metadata") or {}).get("namespace") or NAMESPACE)
        for ns in sorted(namespaces):
            SRV.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        add_object_tests(ALL)
        for label, api_version, kind, name in SKIPPED:
            print("skipped (not served by the test API server): %s: %s %s/%s" % (label, api_version, kind, name))
        suite = unittest.TestSuite()
        loader = unittest.TestLoader()
        for cls in (DryRun, NamedPorts, Negative):
            suite.addTests(loader.loadTestsFromTestCase(cls))
        result = unittest.TextTestRunner(verbosity=2).run(suite)
    finally:
        SRV.stop()
    failed = len(result.failures) + len(result.errors)
    print("%d objects of kinds the test API server does not serve were skipped (listed above)" % len(SKIPPED))
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
