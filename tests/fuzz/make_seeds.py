#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from the repository's
examples, the recorded kube-apiserver samples and hand-made binary messages. Re-run it after
changing the inputs it reads; the seeds are committed so `make test` needs nothing else.

    python3 tests/fuzz/make_seeds.py"""
import glob
import json
import os
import re
import shutil
import struct

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def examples():
    return sorted(glob.glob(os.path.join(ROOT, "examples", "**", "*.yaml"), recursive=True))


def samples():
    return sorted(glob.glob(os.path.join(ROOT, "tests", "fidelity", "samples", "*.txt")))


def json_blocks(text):
    """Top-level JSON objects in a sample file (bodies start with '{' at column 0)."""
    out, depth, start, in_str, esc = [], 0, None, False, False
    for i, c in enumerate(text):
        if in_str:
            esc = (c == "\\") and not esc
            if c == '"' and not esc:
                in_str = False
            continue
        if c == '"' and depth > 0:
            in_str = True
        elif c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                try:
                    out.append(json.loads(text[start:i + 1]))
                except ValueError:
                    pass
    return out


# --- TTLV (KMIP 1.2 §9.1): tag (3), type (1), length (4), value padded to 8 ---------------
def ttlv(tag, typ, value):
    pad = (8 - len(value) % 8) % 8
    return struct.pack(">I", tag)[1:] + bytes([typ]) + struct.pack(">I", len(value)) + value + b"\0" * pad


def structure(tag, *items):
    return ttlv(tag, 0x01, b"".join(items))


def integer(tag, v):
    return ttlv(tag, 0x02, struct.pack(">i", v))


def enum(tag, v):
    return ttlv(tag, 0x05, struct.pack(">I", v))


def text(tag, s):
    return ttlv(tag, 0x07, s.encode())


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    n = 0
    for path in examples():
        base = os.path.relpath(path, os.path.join(ROOT, "examples")).replace("/", "_")
        raw = open(path).read()
        put("manifests", base, raw)
        for i, doc in enumerate(yaml.safe_load_all(raw)):
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("keygate.dev/"):
                doc.setdefault("metadata", {}).setdefault("namespace", "tenant-a")
                doc["metadata"].setdefault("uid", "0b5c6d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e")
                put("json_codecs", "%s.%d.json" % (base, i), json.dumps(doc, default=str))
                n += 1
    # Status-bearing objects from the recorded exchanges are Widgets; give the codecs one with
    # every status field instead.
    put("json_codecs", "status.json", json.dumps({
        "apiVersion": "keygate.dev/v1alpha1", "kind": "EncryptionKey",
        "metadata": {"name": "k", "namespace": "tenant-a", "uid": "u-1", "finalizers": ["keygate.dev/key-protection"]},
        "spec": {"purpose": "Encrypt", "algorithm": "AES-256", "backend": "softhsm", "origin": "External",
                 "import": {"secretRef": {"name": "material"}}},
        "status": {"state": "Active", "currentVersion": 2, "observedGeneration": 3,
                   "versions": [{"version": 1, "state": "Deactivated", "backendKeyId": "keygate/tenant-a/u-1/v1",
                                 "fingerprint": "kcv:0a0b0c", "createdAt": "2026-01-01T00:00:00Z"},
                                {"version": 2, "state": "Pending"}],
                   "wrappingKey": {"algorithm": "RSAES_OAEP_SHA_256", "algorithms": ["RSAES_OAEP_SHA_256"],
                                   "publicKeyPem": "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
                                   "expiresAt": "2026-01-02T00:00:00Z", "version": 2, "serial": 1},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Active", "message": "",
                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}))

    for path in [os.path.join(ROOT, "tests", "data", "check", "policy", "config.yaml"),
                 os.path.join(ROOT, "tests", "data", "check", "policy", "bad-config.yaml")]:
        put("operator_config", os.path.basename(path), open(path).read())
    put("operator_config", "full.yaml", """backends:
- {name: softhsm, type: pkcs11, module: /usr/lib/softhsm/libsofthsm2.so, isolation: tokenPerNamespace}
- name: kms
  type: kmip
  endpoint: kms.example:5696
  tls: {caFile: /ca.crt, certFile: /c.crt, keyFile: /c.key}
policy:
  minApprovals: {default: 1, Sign: 2}
  preActiveTTL: {default: 168h, max: 720h}
  jurisdictions: {EU: {backends: [softhsm]}}
  segregationOfDuties: {requesterMayApprove: false, creatorMayApprove: false}
metrics: {bindAddress: ":9090"}
health: {bindAddress: ":8081", driftScanInterval: 1h, straySweepInterval: 0, strayGracePeriod: 24h}
webhook: {bindAddress: ":9443", certFile: /w/tls.crt, keyFile: /w/tls.key}
dataPlane: {bindAddress: ":8443", certFile: /d/tls.crt, keyFile: /d/tls.key, tenantRateLimit: {qps: 100, burst: 200}}
leaderElection: {enabled: true, leaseDuration: 15s}
kubeAPI: {qps: -1}
secretStore: {type: file}
audit: {maxFiles: 3}
workers: 4
""")

    for path in samples():
        base = os.path.basename(path)
        body = open(path).read()
        for i, obj in enumerate(json_blocks(body)):
            if obj.get("kind") == "AdmissionReview":
                put("admission_review", "%s.%d.json" % (base, i), json.dumps(obj))
        for i, line in enumerate(l for l in body.splitlines() if l.startswith('{"type":')):
            put("watch_line", "%s.%d" % (base, i), line)

    put("kubeconfig", "token.yaml", """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: "LS0tLS1CRUdJTg=="}
users:
- name: u
  user: {token: abc}
- name: cert
  user: {client-certificate: crt.pem, client-key: key.pem}
contexts:
- name: prod
  context: {cluster: c, user: u, namespace: tenant-a}
- name: other
  context: {cluster: c, user: cert}
current-context: prod
""")

    hdr = lambda alg, ver: bytes([0x4B, 1, alg]) + struct.pack(">I", ver)
    put("crypto_request", "gcm.bin", hdr(1, 1) + b"\x01" * 12 + b"\x02" * 5 + b"\x03" * 16)
    put("crypto_request", "rsa.bin", hdr(2, 3) + b"\x05" * 384)
    put("crypto_request", "name.txt", "tenant-a/model-weights@2")

    def pb_bytes(field, b):
        return bytes([field << 3 | 2]) + varint(len(b)) + b

    def varint(v):
        out = b""
        while True:
            out += bytes([(v & 0x7F) | (0x80 if v > 0x7F else 0)])
            v >>= 7
            if not v:
                return out

    entry = pb_bytes(1, b"key-version.kms.keygate.dev") + pb_bytes(2, b"kube-system/etcd@1")
    put("kms_request", "decrypt.bin", pb_bytes(1, hdr(1, 1) + b"\x01" * 12 + b"\x02" * 48) + pb_bytes(2, b"uid-1") +
        pb_bytes(3, b"0123456789abcdef0123456789abcdef") + pb_bytes(4, entry))
    put("kms_request", "encrypt.bin", pb_bytes(1, b"\x07" * 32) + pb_bytes(2, b"uid-2"))

    # A KMIP Response Message: header, one batch item with a Create's result.
    resp = structure(0x42007B,
                     structure(0x42007A, structure(0x420069, integer(0x42006A, 1), integer(0x42006B, 2)),
                               ttlv(0x420092, 0x09, struct.pack(">q", 1767225600)), integer(0x42000D, 1)),
                     structure(0x42000F, enum(0x42005C, 1), enum(0x42007F, 0),
                               structure(0x42007C, enum(0x420057, 2), text(0x420094, "1234"))))
    put("ttlv", "response.bin", resp)
    put("ttlv", "failure.bin", structure(0x42000F, enum(0x42007F, 1), enum(0x42007E, 1), text(0x42007D, "no such item")))
    put("ttlv", "bool-bigint-interval.bin", structure(0x420001, ttlv(0x420002, 0x06, struct.pack(">Q", 1)),
                                                      ttlv(0x420003, 0x04, b"\x00" * 8), ttlv(0x420004, 0x0A, struct.pack(">I", 60)),
                                                      ttlv(0x420005, 0x08, b"\xff" * 3)))
    counts = {t: len(os.listdir(os.path.join(OUT, t))) for t in sorted(os.listdir(OUT))}
    print("seeds:", ", ".join("%s %d" % kv for kv in counts.items()))


if __name__ == "__main__":
    main()
