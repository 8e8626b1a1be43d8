#!/usr/bin/env python3
"""charts/keygate: rendered by the real helm (lint, template), checked against what the
rest of the project tests for real.

- RBAC and webhook rules equal deploy/'s, which the e2e tests enforce on the operator.
- The rendered config.yaml passes `keygate check --config` (the operator's own parser).
- Every name the Deployment, Services, webhooks, ServiceMonitor, PDB and NetworkPolicy
  refer to is rendered (or is the user's existing object) and selects the right pods.
- The helm-made webhook certificate verifies against the caBundle for the Service's DNS name,
  and the crypto API's against the CA ConfigMap clients mount, for the crypto Service's name.
- dataPlane (the crypto API): port, Service, certificate and config come and go together;
  serveOn follows replicaCount; the fields the chart owns cannot be set under config.
- The PrometheusRule passes `promtool check rules` and `promtool test rules`
  (tests/chart/alerts_test.yaml); the Grafana dashboard's queries pass promtool too.
- Bad values fail with a message that names the value.

Usage: chart_test.py --keygate BUILD/src/cmd/keygate [unittest args]
"""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(SOURCE, "charts", "keygate")
KEYGATE = None
HELM = None


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def helm_stderr(text):
    # helm warns once per symlinked CRD file (charts/keygate/crds -> ../../crds); drop that noise.
    return "\n".join(l for l in text.splitlines() if "found symbolic link in path" not in l)


def render(*sets, namespace="keygate-system", name="keygate", values=None):
    cmd = [HELM, "template", name, CHART, "--namespace", namespace]
    for s in sets:
        cmd += ["--set", s]
    for v in values or []:
        cmd += ["-f", v]
    p = run(cmd)
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def render_error(*sets):
    cmd = [HELM, "template", "keygate", CHART]
    for s in sets:
        cmd += ["--set", s]
    p = run(cmd, check=False)
    return p.returncode, helm_stderr(p.stderr)


def index(docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def one(docs, kind, suffix=None):
    found = [d for d in docs if d["kind"] == kind and (suffix is None or d["metadata"]["name"].endswith(suffix))]
    assert len(found) == 1, f"{len(found)} objects of kind {kind}" + (f" named *{suffix}" if suffix else "")
    return found[0]


def read(path):
    with open(path) as f:
        return f.read()


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


class ChartTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="keygate-chart-")
        cls.deploy = [d for d in yaml.safe_load_all(run(["kubectl", "kustomize", os.path.join(SOURCE, "deploy")]).stdout) if d]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # --- helm itself -----------------------------------------------------------------

    def test_lint_strict_with_every_values_file(self):
        files = [None] + sorted(os.path.join(CHART, "ci", f) for f in os.listdir(os.path.join(CHART, "ci")))
        self.assertGreaterEqual(len(files), 3)
        for f in files:
            cmd = [HELM, "lint", "--strict", CHART] + (["-f", f] if f else [])
            p = run(cmd, check=False)
            self.assertEqual(p.returncode, 0, f"{f}: {p.stdout}{helm_stderr(p.stderr)}")
            self.assertIn("0 chart(s) failed", p.stdout)

    def test_crds_are_the_repository_crds(self):
        # (`helm show crds` runs the files together without separators; install takes them one by one.)
        out = run([HELM, "template", "keygate", CHART, "--include-crds"]).stdout
        shown = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "CustomResourceDefinition"]
        repo = []
        for f in sorted(os.listdir(os.path.join(SOURCE, "crds"))):
            repo += [d for d in yaml.safe_load_all(read(os.path.join(SOURCE, "crds", f))) if d]
        self.assertEqual(sorted(d["metadata"]["name"] for d in shown),
                         ["encryptionkeys.keygate.dev", "keyactivationrequests.keygate.dev", "keyrolebindings.keygate.dev"])
        self.assertEqual(sorted(shown, key=lambda d: d["metadata"]["name"]), sorted(repo, key=lambda d: d["metadata"]["name"]))

    # --- the same operator deploy/ runs ----------------------------------------------

    def test_rbac_and_webhook_rules_equal_deploy(self):
        chart = render()
        self.assertEqual(one(chart, "ClusterRole", "-operator")["rules"], one(self.deploy, "ClusterRole", "-operator")["rules"])
        self.assertEqual(one(chart, "Role")["rules"], one(self.deploy, "Role")["rules"])
        # The people's ClusterRoles: same names (after the prefix), rules and aggregation labels.
        agg = "rbac.authorization.k8s.io/aggregate-to-"
        def user_roles(docs):
            return {d["metadata"]["name"].rsplit("-", 1)[1]: (d["rules"], sorted(k for k in d["metadata"]["labels"] if k.startswith(agg)))
                    for d in docs if d["kind"] == "ClusterRole" and not d["metadata"]["name"].endswith("-operator")}
        self.assertEqual(user_roles(chart), user_roles(self.deploy))
        self.assertEqual(sorted(user_roles(chart)), ["admin", "edit", "platform", "view"])
        self.assertEqual(user_roles(chart)["edit"][1], [agg + "edit"])
        self.assertEqual(user_roles(chart)["platform"][1], [])
        off = user_roles(render("userRoles.aggregateToDefaultRoles=false"))
        self.assertEqual([labels for _, labels in off.values()], [[]] * 4)
        self.assertEqual(user_roles(render("userRoles.create=false")), {})
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            c, d = one(chart, kind)["webhooks"], one(self.deploy, kind)["webhooks"]
            self.assertEqual(len(c), len(d))
            for cw, dw in zip(c, d):
                for field in ("name", "rules", "failurePolicy", "sideEffects", "admissionReviewVersions", "timeoutSeconds"):
                    self.assertEqual(cw[field], dw[field], f"{kind} {field}")
                self.assertEqual(cw["clientConfig"]["service"], dw["clientConfig"]["service"])
        # Same container contract: image entrypoint args, probes, hardening.
        cc = one(chart, "Deployment")["spec"]["template"]["spec"]
        dc = one(self.deploy, "Deployment")["spec"]["template"]["spec"]
        self.assertEqual(cc["securityContext"], dc["securityContext"])
        c0, d0 = cc["containers"][0], dc["containers"][0]
        self.assertEqual(c0["args"][:3], d0["args"][:3])
        for field in ("readinessProbe", "livenessProbe", "securityContext", "resources"):
            self.assertEqual(c0[field], d0[field], field)
        self.assertEqual({p["name"]: p["containerPort"] for p in c0["ports"]},
                         {p["name"]: p["containerPort"] for p in d0["ports"]})

    def test_no_mount_inside_another_mount(self):
        # A mount point inside another (read-only) volume makes the runtime create it there;
        # deploy/ once mounted the webhook Secret inside the ConfigMap volume at /etc/keygate.
        for name, docs in (("chart", render()), ("deploy", self.deploy)):
            mounts = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
            paths = [m["mountPath"].rstrip("/") for m in mounts]
            self.assertEqual(len(paths), len(set(paths)), name)
            for m in mounts:
                if "subPath" in m:
                    continue  # a file mount has nothing inside it
                inside = [p for p in paths if p.startswith(m["mountPath"].rstrip("/") + "/")]
                self.assertEqual(inside, [], f"{name}: mounted inside {m['mountPath']}")
        dm = {m["name"]: m for m in one(self.deploy, "Deployment")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
        cm = {m["name"]: m for m in one(render(), "Deployment")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
        for vol in ("config", "webhook-tls", "crypto-tls", "state", "tmp"):
            self.assertEqual(dm[vol], cm[vol], vol)

    def config_of(self, docs):
        cm = one(docs, "ConfigMap", "-config")
        return cm["data"]["config.yaml"]

    def keygate_check(self, config_text):
        """`keygate check` on the config and a key that uses its first backend."""
        path = self.write("config.yaml", config_text)
        backend = yaml.safe_load(config_text)["backends"][0]["name"]
        manifests = os.path.join(self.tmp, "manifests")
        os.makedirs(manifests, exist_ok=True)
        self.write("manifests/key.yaml", yaml.safe_dump({
            "apiVersion": "keygate.dev/v1alpha1", "kind": "EncryptionKey", "metadata": {"name": "k", "namespace": "tenant-a"},
            "spec": {"purpose": "Encrypt", "algorithm": "AES-256", "backend": backend}}))
        return run([KEYGATE, "check", "--config", path, "-f", manifests], check=False)

    def test_rendered_config_passes_the_operators_own_validation(self):
        cases = {"default": render(), "ha": render(values=[os.path.join(CHART, "ci", "ha-values.yaml")]),
                 "kmip": render(values=[os.path.join(CHART, "ci", "kmip-values.yaml")]),
                 "other namespace": render(namespace="kms-prod", name="kg")}
        for name, docs in cases.items():
            p = self.keygate_check(self.config_of(docs))
            self.assertEqual(p.returncode, 0, f"{name}: {p.stdout}{p.stderr}")
        cfg = yaml.safe_load(self.config_of(cases["other namespace"]))
        self.assertEqual(cfg["operatorNamespace"], "kms-prod")
        self.assertEqual(cfg["leaderElection"]["leaseName"], "kg-keygate-leader")
        self.assertEqual(cfg["webhook"]["bindAddress"], ":9443")
        # The KMIP client certificate is mounted where the config points.
        kmip_cfg = yaml.safe_load(self.config_of(cases["kmip"]))
        spec = one(cases["kmip"], "Deployment")["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        self.assertTrue(kmip_cfg["backends"][0]["tls"]["certFile"].startswith(mounts["kmip-client"] + "/"))
        self.assertIn("kmip-client", [v["name"] for v in spec["volumes"]])
        ha = yaml.safe_load(self.config_of(cases["ha"]))
        self.assertEqual(ha["leaderElection"]["leaseDuration"], "20s")
        self.assertEqual(ha["workers"], 8)
        # A value only the operator can judge: helm renders it, `keygate check` names it.
        p = self.keygate_check(self.config_of(render("config.policy.minApprovals.default=0")))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("policy.minApprovals.default", p.stdout + p.stderr)

    def test_config_change_restarts_the_pods(self):
        a = one(render(), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        b = one(render("config.workers=6"), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        self.assertNotEqual(a, b)

    # --- internal references ---------------------------------------------------------

    def check_references(self, docs, namespace):
        objs = index(docs)
        dep = one(docs, "Deployment")
        pod = dep["spec"]["template"]
        labels = pod["metadata"]["labels"]
        self.assertTrue(selects(dep["spec"]["selector"]["matchLabels"], labels))
        spec = pod["spec"]
        self.assertIn(("ServiceAccount", spec["serviceAccountName"]), objs)
        for d in docs:
            if d["kind"] not in ("ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration",
                                 "ValidatingWebhookConfiguration"):
                self.assertEqual(d["metadata"].get("namespace"), namespace, f"{d['kind']} {d['metadata']['name']}")
        for b in (one(docs, "ClusterRoleBinding"), one(docs, "RoleBinding")):
            self.assertIn((b["roleRef"]["kind"], b["roleRef"]["name"]), objs)
            self.assertEqual(b["subjects"], [{"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": namespace}])
        container = spec["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        mounts = {m["name"] for m in container["volumeMounts"]}
        for v in spec["volumes"]:
            self.assertIn(v["name"], mounts)
            if "configMap" in v:
                self.assertIn(("ConfigMap", v["configMap"]["name"]), objs)
        services = [d for d in docs if d["kind"] == "Service"]
        for s in services:
            self.assertTrue(selects(s["spec"]["selector"], labels), s["metadata"]["name"])
            for p in s["spec"]["ports"]:
                self.assertIn(p["targetPort"], ports)
        cfg = yaml.safe_load(self.config_of(docs))
        self.assertEqual(cfg["webhook"]["bindAddress"], f":{ports['webhook']}")
        self.assertEqual(cfg["metrics"]["bindAddress"], f":{ports['metrics']}")
        self.assertEqual(cfg["health"]["bindAddress"], f":{ports['health']}")
        if "crypto" in ports:
            self.assertEqual(cfg["dataPlane"]["bindAddress"], f":{ports['crypto']}")
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            self.assertEqual(cfg["dataPlane"]["certFile"], mounts["crypto-tls"] + "/tls.crt")
            self.assertEqual(cfg["dataPlane"]["keyFile"], mounts["crypto-tls"] + "/tls.key")
            crypto = one(docs, "Service", "-crypto")
            self.assertEqual(crypto["spec"]["ports"], [{"name": "crypto", "port": 443, "targetPort": "crypto", "appProtocol": "grpc"}])
        else:
            self.assertNotIn("dataPlane", cfg)
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            for w in one(docs, kind)["webhooks"]:
                ref = w["clientConfig"]["service"]
                self.assertEqual(ref["namespace"], namespace)
                svc = objs[("Service", ref["name"])]
                self.assertIn(ref["port"], [p["port"] for p in svc["spec"]["ports"]])
                self.assertEqual([p["targetPort"] for p in svc["spec"]["ports"] if p["port"] == ref["port"]], ["webhook"])
        return objs, spec

    def test_references_resolve_default(self):
        docs = render()
        objs, spec = self.check_references(docs, "keygate-system")
        vols = {v["name"]: v for v in spec["volumes"]}
        self.assertIn(("PersistentVolumeClaim", vols["state"]["persistentVolumeClaim"]["claimName"]), objs)
        self.assertIn(("Secret", vols["webhook-tls"]["secret"]["secretName"]), objs)
        self.assertIn(("Secret", vols["crypto-tls"]["secret"]["secretName"]), objs)
        self.assertEqual(yaml.safe_load(self.config_of(docs))["dataPlane"]["serveOn"], "leader")
        self.assertEqual(one(docs, "Deployment")["spec"]["strategy"], {"type": "Recreate"})
        pvc = one(docs, "PersistentVolumeClaim")
        self.assertEqual(pvc["metadata"]["annotations"]["helm.sh/resource-policy"], "keep")
        for kind in ("PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "PrometheusRule", "Certificate"):
            self.assertFalse([d for d in docs if d["kind"] == kind], kind)

    def test_references_resolve_ha_in_another_namespace(self):
        docs = render(namespace="kms-prod", name="kg", values=[os.path.join(CHART, "ci", "ha-values.yaml")])
        objs, spec = self.check_references(docs, "kms-prod")
        self.assertEqual({v["name"]: v for v in spec["volumes"]}["state"], {"name": "state", "emptyDir": {}})
        dep = one(docs, "Deployment")
        self.assertEqual(dep["spec"]["replicas"], 2)
        self.assertNotIn("strategy", dep["spec"])
        self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["args"][-2:], ["--hsm-cpus", "1"])
        labels = dep["spec"]["template"]["metadata"]["labels"]
        pdb = one(docs, "PodDisruptionBudget")
        self.assertTrue(selects(pdb["spec"]["selector"]["matchLabels"], labels))
        netpol = one(docs, "NetworkPolicy")
        self.assertTrue(selects(netpol["spec"]["podSelector"]["matchLabels"], labels))
        allowed = {p["port"] for rule in netpol["spec"]["ingress"] for p in rule["ports"]}
        self.assertEqual(allowed, {9443, 9090, 8081, 8443})
        crypto_rule = [r for r in netpol["spec"]["ingress"] if [p["port"] for p in r["ports"]] == [8443]]
        self.assertEqual(len(crypto_rule), 1)
        self.assertEqual(crypto_rule[0]["from"], [{"namespaceSelector": {"matchLabels": {"keygate.dev/crypto-clients": "true"}}}])
        # Two replicas: both serve the crypto API (a standby with serveOn=leader answers UNAVAILABLE).
        self.assertEqual(yaml.safe_load(self.config_of(docs))["dataPlane"]["serveOn"], "all")
        sm = one(docs, "ServiceMonitor")
        matched = [s["metadata"]["name"] for s in docs
                   if s["kind"] == "Service" and selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        self.assertEqual(matched, ["kg-keygate-metrics"])
        self.assertTrue(sm["spec"]["endpoints"][0]["honorLabels"])
        self.assertEqual(sm["metadata"]["labels"]["release"], "prometheus")
        self.assertEqual(sm["spec"]["namespaceSelector"], {"matchNames": ["kms-prod"]})
        # Cluster-scoped names carry the release, so they do not collide with another release.
        self.assertIn(("ClusterRole", "kg-keygate-operator"), objs)

    # --- webhook TLS -----------------------------------------------------------------

    def test_helm_made_certificate_verifies_for_the_service_name(self):
        docs = render(namespace="kms-prod", name="kg")
        secret = one(docs, "Secret", "-webhook-tls")
        self.assertEqual(secret["type"], "kubernetes.io/tls")
        files = {}
        for k in ("ca.crt", "tls.crt", "tls.key"):
            files[k] = self.write(k, base64.b64decode(secret["data"][k]).decode())
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            for w in one(docs, kind)["webhooks"]:
                self.assertEqual(w["clientConfig"]["caBundle"], secret["data"]["ca.crt"])
        host = "kg-keygate-webhook.kms-prod.svc"
        p = run(["openssl", "verify", "-CAfile", files["ca.crt"], "-verify_hostname", host, "-purpose", "sslserver",
                 files["tls.crt"]], check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = run(["openssl", "verify", "-CAfile", files["ca.crt"], "-verify_hostname", "keygate-webhook.other.svc",
                 files["tls.crt"]], check=False)
        self.assertNotEqual(p.returncode, 0)
        cert_pub = run(["openssl", "x509", "-in", files["tls.crt"], "-noout", "-pubkey"]).stdout
        key_pub = run(["openssl", "pkey", "-in", files["tls.key"], "-pubout"]).stdout
        self.assertEqual(cert_pub, key_pub)

    def test_cert_manager_mode(self):
        docs = render(values=[os.path.join(CHART, "ci", "certmanager-values.yaml")])
        objs, spec = self.check_references(docs, "keygate-system")
        self.assertFalse([d for d in docs if d["kind"] == "Secret"])
        cert = one(docs, "Certificate", "-webhook")
        issuer = one(docs, "Issuer", "-selfsigned")
        self.assertEqual(cert["spec"]["issuerRef"]["name"], issuer["metadata"]["name"])
        self.assertIn("keygate-webhook.keygate-system.svc", cert["spec"]["dnsNames"])
        vols = {v["name"]: v for v in spec["volumes"]}
        self.assertEqual(vols["webhook-tls"]["secret"]["secretName"], cert["spec"]["secretName"])
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            c = one(docs, kind)
            self.assertEqual(c["metadata"]["annotations"]["cert-manager.io/inject-ca-from"], "keygate-system/" + cert["metadata"]["name"])
            self.assertNotIn("caBundle", c["webhooks"][0]["clientConfig"])
        # The crypto API: a self-signed CA (stable while the serving certificate rotates), a CA
        # Issuer from its Secret, and the serving certificate for the crypto Service from that.
        crypto = one(docs, "Certificate", "-crypto")
        ca_cert = one(docs, "Certificate", "-crypto-ca")
        ca_issuer = one(docs, "Issuer", "-crypto-ca")
        self.assertTrue(ca_cert["spec"]["isCA"])
        self.assertEqual(ca_cert["spec"]["issuerRef"]["name"], issuer["metadata"]["name"])
        self.assertEqual(ca_issuer["spec"]["ca"]["secretName"], ca_cert["spec"]["secretName"])
        self.assertEqual(crypto["spec"]["issuerRef"]["name"], ca_issuer["metadata"]["name"])
        self.assertIn("keygate-crypto.keygate-system.svc", crypto["spec"]["dnsNames"])
        self.assertEqual(vols["crypto-tls"]["secret"]["secretName"], crypto["spec"]["secretName"])
        self.assertNotIn(crypto["spec"]["secretName"], (cert["spec"]["secretName"], ca_cert["spec"]["secretName"]))
        self.assertFalse([d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-crypto-ca")])
        # With the user's issuer, no Issuer is made.
        docs = render("webhook.tls.mode=certManager", "webhook.tls.certManager.issuerRef.name=corp-ca",
                      "webhook.tls.certManager.issuerRef.kind=ClusterIssuer")
        self.assertFalse([d for d in docs if d["kind"] == "Issuer"])
        self.assertEqual(one(docs, "Certificate")["spec"]["issuerRef"], {"name": "corp-ca", "kind": "ClusterIssuer"})
        docs = render("dataPlane.tls.mode=certManager", "dataPlane.tls.certManager.issuerRef.name=corp-ca",
                      "dataPlane.tls.certManager.issuerRef.kind=ClusterIssuer")
        self.assertFalse([d for d in docs if d["kind"] == "Issuer"])
        self.assertEqual([c["metadata"]["name"] for c in docs if c["kind"] == "Certificate"], ["keygate-crypto"])
        self.assertEqual(one(docs, "Certificate")["spec"]["issuerRef"], {"name": "corp-ca", "kind": "ClusterIssuer"})

    def test_existing_secret_mode(self):
        ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n...\n").decode()
        docs = render("webhook.tls.mode=secret", "webhook.tls.secret.name=corp-webhook-tls", f"webhook.tls.secret.caBundle={ca}")
        self.assertFalse([d for d in docs if d["kind"] in ("Secret", "Certificate", "Issuer") and "-crypto" not in d["metadata"]["name"]])
        spec = one(docs, "Deployment")["spec"]["template"]["spec"]
        self.assertEqual({v["name"]: v for v in spec["volumes"]}["webhook-tls"]["secret"]["secretName"], "corp-webhook-tls")
        self.assertEqual(one(docs, "ValidatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"], ca)
        # The crypto API's: the user's Secret is mounted; its CA, when given, is published for clients.
        pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
        for sets, published in ((["dataPlane.tls.secret.caBundle=" + base64.b64encode(pem.encode()).decode()], True), ([], False)):
            docs = render("dataPlane.tls.mode=secret", "dataPlane.tls.secret.name=corp-crypto-tls", *sets)
            self.assertFalse([d for d in docs if d["kind"] in ("Certificate", "Issuer") or
                              (d["kind"] == "Secret" and "-crypto" in d["metadata"]["name"])])
            spec = one(docs, "Deployment")["spec"]["template"]["spec"]
            self.assertEqual({v["name"]: v for v in spec["volumes"]}["crypto-tls"]["secret"]["secretName"], "corp-crypto-tls")
            cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "keygate-crypto-ca"]
            self.assertEqual([cm["data"]["ca.crt"].strip() for cm in cms], [pem] if published else [])

    # --- the crypto API (dataPlane) ---------------------------------------------------

    def test_helm_made_crypto_certificate_verifies_against_the_published_ca(self):
        docs = render(namespace="kms-prod", name="kg")
        objs, spec = self.check_references(docs, "kms-prod")
        secret = one(docs, "Secret", "-crypto-tls")
        self.assertEqual(secret["type"], "kubernetes.io/tls")
        self.assertEqual({v["name"]: v for v in spec["volumes"]}["crypto-tls"]["secret"]["secretName"], secret["metadata"]["name"])
        # Clients mount the ConfigMap: it holds the same CA as the Secret the operator serves from.
        ca_cm = objs[("ConfigMap", "kg-keygate-crypto-ca")]
        self.assertEqual(ca_cm["data"]["ca.crt"].strip(), base64.b64decode(secret["data"]["ca.crt"]).decode().strip())
        ca = self.write("crypto-ca.crt", ca_cm["data"]["ca.crt"])
        crt = self.write("crypto-tls.crt", base64.b64decode(secret["data"]["tls.crt"]).decode())
        key = self.write("crypto-tls.key", base64.b64decode(secret["data"]["tls.key"]).decode())
        svc = one(docs, "Service", "-crypto")
        self.assertEqual(svc["metadata"]["name"], "kg-keygate-crypto")
        for host in ("kg-keygate-crypto.kms-prod.svc", "kg-keygate-crypto.kms-prod.svc.cluster.local"):
            p = run(["openssl", "verify", "-CAfile", ca, "-verify_hostname", host, "-purpose", "sslserver", crt], check=False)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for host in ("kg-keygate-webhook.kms-prod.svc", "kg-keygate-crypto.other.svc"):
            p = run(["openssl", "verify", "-CAfile", ca, "-verify_hostname", host, crt], check=False)
            self.assertNotEqual(p.returncode, 0, host)
        # Not the webhook's CA: a client trusting the crypto CA does not trust the webhook.
        webhook_ca = base64.b64decode(one(docs, "Secret", "-webhook-tls")["data"]["ca.crt"]).decode()
        self.assertNotEqual(webhook_ca.strip(), ca_cm["data"]["ca.crt"].strip())
        self.assertEqual(run(["openssl", "x509", "-in", crt, "-noout", "-pubkey"]).stdout,
                         run(["openssl", "pkey", "-in", key, "-pubout"]).stdout)
        # The crypto Service's targetPort names the container port the config binds.
        container = spec["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        self.assertEqual([p["targetPort"] for p in svc["spec"]["ports"]], ["crypto"])
        self.assertEqual(ports["crypto"], 8443)
        self.assertEqual(yaml.safe_load(self.config_of(docs))["dataPlane"]["bindAddress"], ":8443")

    def test_data_plane_disabled_renders_none_of_it(self):
        docs = render("dataPlane.enabled=false", "networkPolicy.enabled=true")
        self.check_references(docs, "keygate-system")
        self.assertEqual([f"{d['kind']}/{d['metadata']['name']}" for d in docs if "crypto" in d["metadata"]["name"]], [])
        spec = one(docs, "Deployment")["spec"]["template"]["spec"]
        self.assertNotIn("crypto", [p["name"] for p in spec["containers"][0]["ports"]])
        self.assertFalse([v for v in spec["volumes"] if v["name"].startswith("crypto")])
        self.assertFalse([m for m in spec["containers"][0]["volumeMounts"] if m["name"].startswith("crypto")])
        cfg = self.config_of(docs)
        self.assertNotIn("dataPlane", yaml.safe_load(cfg))
        allowed = {p["port"] for rule in one(docs, "NetworkPolicy")["spec"]["ingress"] for p in rule["ports"]}
        self.assertEqual(allowed, {9443, 9090, 8081})
        p = self.keygate_check(cfg)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # ... and the crypto port may then equal nothing else's business.
        render("dataPlane.enabled=false", "dataPlane.port=9090")

    def test_data_plane_config(self):
        serve_on = lambda *sets: yaml.safe_load(self.config_of(render(*sets)))["dataPlane"]["serveOn"]
        self.assertEqual(serve_on(), "leader")
        self.assertEqual(serve_on("replicaCount=2", "persistence.enabled=false"), "all")
        self.assertEqual(serve_on("replicaCount=2", "persistence.enabled=false", "dataPlane.serveOn=leader"), "leader")
        self.assertEqual(serve_on("dataPlane.serveOn=all"), "all")
        # config.dataPlane's other keys pass through; the operator judges them.
        docs = render(values=[os.path.join(CHART, "ci", "kmip-values.yaml")])
        self.check_references(docs, "keygate-system")
        cfg = yaml.safe_load(self.config_of(docs))
        self.assertEqual(cfg["dataPlane"]["tokenCacheTTL"], "1m")
        self.assertEqual(cfg["dataPlane"]["tenantRateLimit"], {"qps": 500, "burst": 1000})
        self.assertEqual(cfg["dataPlane"]["serveOn"], "all")
        # The client CA Secret is mounted where clientCAFile points, and nowhere else.
        spec = one(docs, "Deployment")["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        vols = {v["name"]: v for v in spec["volumes"]}
        self.assertEqual(vols["crypto-client-ca"]["secret"]["secretName"], "keygate-crypto-clients")
        self.assertEqual(cfg["dataPlane"]["clientCAFile"], mounts["crypto-client-ca"] + "/ca.crt")
        cfg = yaml.safe_load(self.config_of(render("dataPlane.clientCA.secretName=corp", "dataPlane.clientCA.key=bundle.pem")))
        self.assertEqual(cfg["dataPlane"]["clientCAFile"], "/etc/keygate/crypto-client-ca/bundle.pem")
        self.assertNotIn("clientCAFile", yaml.safe_load(self.config_of(render()))["dataPlane"])
        # A dataPlane value only the operator can judge: helm renders it, `keygate check` names it.
        p = self.keygate_check(self.config_of(render("config.dataPlane.tokenCacheTTL=1h")))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("dataPlane.tokenCacheTTL", p.stdout + p.stderr)
        a = one(render(), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        b = one(render("config.dataPlane.audience=other"), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        self.assertNotEqual(a, b)

    def test_webhook_client_auth(self):
        """webhook.clientCA: the Secret is mounted where webhook.clientCAFile points, allowedNames
        pass through, the operator accepts the config; networkPolicy.webhookFrom restricts the port."""
        self.assertNotIn("clientCAFile", yaml.safe_load(self.config_of(render()))["webhook"])
        docs = render("webhook.clientCA.secretName=apiserver-client-ca", "webhook.clientCA.allowedNames={kube-apiserver}",
                      "networkPolicy.enabled=true", "networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.10/32")
        self.check_references(docs, "keygate-system")
        cfg = yaml.safe_load(self.config_of(docs))
        spec = one(docs, "Deployment")["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        vols = {v["name"]: v for v in spec["volumes"]}
        self.assertEqual(vols["webhook-client-ca"]["secret"]["secretName"], "apiserver-client-ca")
        self.assertEqual(cfg["webhook"]["clientCAFile"], mounts["webhook-client-ca"] + "/ca.crt")
        self.assertEqual(cfg["webhook"]["allowedClientNames"], ["kube-apiserver"])
        p = self.keygate_check(self.config_of(docs))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        ingress = one(docs, "NetworkPolicy")["spec"]["ingress"]
        webhook_rule = [r for r in ingress if {"protocol": "TCP", "port": 9443} in r["ports"]]
        self.assertEqual(len(webhook_rule), 1)
        self.assertEqual(webhook_rule[0]["ports"], [{"protocol": "TCP", "port": 9443}], "the webhook port has its own rule")
        self.assertEqual(webhook_rule[0]["from"], [{"ipBlock": {"cidr": "10.0.0.10/32"}}])
        # Without webhookFrom the port stays open to any peer (the documented default).
        ingress = one(render("networkPolicy.enabled=true"), "NetworkPolicy")["spec"]["ingress"]
        self.assertNotIn("from", [r for r in ingress if {"protocol": "TCP", "port": 9443} in r["ports"]][0])
        rc, err = render_error("webhook.clientCA.allowedNames={kube-apiserver}")
        self.assertNotEqual(rc, 0)
        self.assertIn("webhook.clientCA.allowedNames needs webhook.clientCA.secretName", err)

    # --- bad values ------------------------------------------------------------------

    def test_bad_values_fail_with_the_value_named(self):
        cases = [
            (["replicaCount=two"], "replicaCount: Invalid type"),
            (["replicaCount=0"], "replicaCount: Must be greater than or equal to 1"),
            (["imageTag=1.0"], "Additional property imageTag is not allowed"),
            (["webhook.tls.mode=selfSigned"], "webhook.tls.mode must be one of the following"),
            (["webhook.failurePolicy=fail"], "webhook.failurePolicy must be one of the following"),
            (["metrics.port=70000"], "metrics.port: Must be less than or equal to 65535"),
            (["metrics.port=9443"], "webhook.port, metrics.port, health.port and dataPlane.port must differ (got 9443, 9443, 8081, 8443)"),
            (["dataPlane.port=9090"], "webhook.port, metrics.port, health.port and dataPlane.port must differ (got 9443, 9090, 8081, 9090)"),
            (["dataPlane.enabled=false", "metrics.port=9443"], "webhook.port, metrics.port and health.port must differ"),
            (["config.backends=null"], "config: backends is required"),
            (["config.backends[0].type=hsm"], "config.backends.0.type must be one of the following"),
            (["config.workers=0"], "config.workers: Must be greater than or equal to 1"),
            (["config.webhook.bindAddress=:1"], "config.webhook: set by the chart"),
            (["config.operatorNamespace=x"], "config.operatorNamespace: set by the chart"),
            (["config.dataPlane.bindAddress=:8443"], "config.dataPlane.bindAddress: set by the chart (use dataPlane.port)"),
            (["config.dataPlane.certFile=/x"], "config.dataPlane.certFile: set by the chart (use dataPlane.tls)"),
            (["config.dataPlane.keyFile=/x"], "config.dataPlane.keyFile: set by the chart (use dataPlane.tls)"),
            (["config.dataPlane.serveOn=all"], "config.dataPlane.serveOn: set by the chart (use dataPlane.serveOn)"),
            (["config.dataPlane.clientCAFile=/x"], "config.dataPlane.clientCAFile: set by the chart (use dataPlane.clientCA)"),
            (["dataPlane.enabled=false", "config.dataPlane.audience=x"], "config.dataPlane: the crypto API is off (dataPlane.enabled=false)"),
            (["dataPlane.serveOn=both"], "dataPlane.serveOn must be one of the following"),
            (["dataPlane.tls.mode=selfSigned"], "dataPlane.tls.mode must be one of the following"),
            (["dataPlane.tls.mode=secret"], "dataPlane.tls.secret.name is required"),
            (["dataPlane.port=0"], "dataPlane.port: Must be greater than or equal to 1"),
            (["replicaCount=2"], "2 replicas cannot share the ReadWriteOnce state volume"),
            (["replicaCount=2", "persistence.enabled=false", "config.leaderElection.enabled=false"],
             "replicaCount: 2 replicas need config.leaderElection.enabled=true"),
            (["webhook.tls.mode=secret"], "webhook.tls.secret.name is required"),
            (["webhook.tls.mode=secret", "webhook.tls.secret.name=s"], "webhook.tls.secret.caBundle is required"),
            (["image.digest=latest"], "image.digest: Does not match pattern"),
            (["metrics.prometheusRule.preActiveExpiryWarning=1d"], "preActiveExpiryWarning: Does not match pattern"),
            (["metrics.prometheusRule.disabledAlerts={KeygateTypo}"], "disabledAlerts.0 must be one of the following"),
            (["persistence.size=lots"], "persistence.size: Does not match pattern"),
            (["serviceAccount.create=false"], "serviceAccount.name is required"),
        ]
        for sets, message in cases:
            rc, err = render_error(*sets)
            self.assertNotEqual(rc, 0, sets)
            self.assertIn(message, err, sets)

    # --- alerts and dashboard --------------------------------------------------------

    def rules_file(self, docs, name="rules.yaml"):
        return self.write(name, yaml.safe_dump({"groups": one(docs, "PrometheusRule")["spec"]["groups"]}))

    def test_prometheus_rules_pass_promtool_and_fire_when_they_should(self):
        docs = render("metrics.prometheusRule.enabled=true")
        rules = self.rules_file(docs)
        p = run(["promtool", "check", "rules", rules], check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        names = [r["alert"] for r in yaml.safe_load(read(rules))["groups"][0]["rules"]]
        schema = json.loads(read(os.path.join(CHART, "values.schema.json")))
        self.assertEqual(sorted(names), sorted(schema["properties"]["metrics"]["properties"]["prometheusRule"]
                                               ["properties"]["disabledAlerts"]["items"]["enum"]))
        tests = yaml.safe_load(read(os.path.join(SOURCE, "tests", "chart", "alerts_test.yaml")))
        tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])}
        self.assertEqual(tested, set(names), "every alert has a promtool test")
        tests["rule_files"] = [rules]
        p = run(["promtool", "test", "rules", self.write("alerts_test.yaml", yaml.safe_dump(tests))], check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # disabledAlerts leaves them out.
        docs = render("metrics.prometheusRule.enabled=true",
                      "metrics.prometheusRule.disabledAlerts={KeygateWorkqueueBacklog,KeygateWebhookSlow}")
        left = [r["alert"] for r in one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]]
        self.assertEqual(len(left), len(names) - 2)
        self.assertNotIn("KeygateWebhookSlow", left)

    def test_dashboard_queries_parse_and_use_exported_metrics(self):
        docs = render("grafanaDashboard.enabled=true")
        cm = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
        self.assertEqual(len(cm), 1)
        self.assertEqual(cm[0]["metadata"]["labels"]["grafana_dashboard"], "1")
        dashboard = json.loads(cm[0]["data"]["keygate.json"])
        exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
        self.assertGreaterEqual(len(exprs), 8)
        metrics_dir = os.path.join(SOURCE, "src", "metrics")
        exported = set(re.findall(r'"(keygate_[a-z_]+)"', "".join(
            read(os.path.join(metrics_dir, f)) for f in os.listdir(metrics_dir) if f.endswith(".cc"))))
        for e in exprs:
            for m in re.findall(r"\bkeygate_[a-z_]+", e):
                base = re.sub(r"_(bucket|sum|count)$", "", m)
                self.assertIn(base, exported, f"{m} in {e}")
        # Grafana variables become label values promtool can parse.
        rules = [{"record": f"dashboard:query{i}", "expr": e.replace("$__rate_interval", "5m").replace("$namespace", ".*")}
                 for i, e in enumerate(exprs)]
        path = self.write("dashboard_rules.yaml", yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        p = run(["promtool", "check", "rules", path], check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


def main():
    global KEYGATE, HELM
    parser = argparse.ArgumentParser()
    parser.add_argument("--keygate", required=True)
    args, rest = parser.parse_known_args()
    KEYGATE = os.path.abspath(args.keygate)
    HELM = os.environ.get("HELM") or run([os.path.join(SOURCE, "scripts", "install-test-tools.sh"), "--path"]).stdout.strip()
    if not os.access(HELM, os.X_OK):
        sys.exit(f"helm not found at {HELM}: run scripts/install-test-tools.sh (make test does)")
    for tool in ("kubectl", "promtool", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found on PATH")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
