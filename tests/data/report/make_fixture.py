#!/usr/bin/env python3
"""Writes the audit-report fixture: state.json (keygate local's state format, objects with the
status the operator writes) and audit.log (chained exactly as controllers/audit_file.cc writes:
the record's JSON line plus "seq" and "prevHash" = SHA-256 hex of the previous line).

Two tenants, payments and ml-platform, in every situation the report has a finding for, with
absolute times far enough in the past or future that the findings do not depend on today's
date. Run it from this directory; tests/e2e/cmd/audit_report_test.cc reads the output and
compares `keygate audit report -o json` with report.golden.json."""
import hashlib
import json

T = lambda s: "2026-" + s + "Z"


def meta(ns, name, uid, created, annotations=None, generation=1):
    m = {"name": name, "namespace": ns, "uid": uid, "resourceVersion": "1", "generation": generation,
         "creationTimestamp": created}
    if annotations:
        m["annotations"] = annotations
    return m


def key(ns, name, uid, created, spec, status, annotations=None):
    return {"apiVersion": "keygate.dev/v1alpha1", "kind": "EncryptionKey",
            "metadata": meta(ns, name, uid, created, annotations), "spec": spec, "status": status}


def cond(t, s, reason, msg, at):
    return {"type": t, "status": s, "reason": reason, "message": msg, "observedGeneration": 1, "lastTransitionTime": at}


def binding(ns, name, role, subjects, review, selector=None):
    spec = {"role": role, "subjects": subjects, "reviewBy": review}
    if selector:
        spec["keySelector"] = {"matchLabels": selector}
    return {"apiVersion": "keygate.dev/v1alpha1", "kind": "KeyRoleBinding",
            "metadata": meta(ns, name, "uid-krb-" + name, T("01-01T00:00:00")), "spec": spec,
            "status": {"observedGeneration": 1}}


def user(n):
    return {"kind": "User", "name": n}


def request(ns, name, keyname, requester, reason, phase, approvals, change="", affected=None, version=0,
            required=2, activated=None, created=T("01-01T00:00:00")):
    spec = {"keyRef": {"name": keyname}, "reason": reason, "requester": requester, "approvals": approvals}
    if version:
        spec["keyRef"]["version"] = version
    if change:
        spec["changeReference"] = change
    if affected:
        spec["affectedSystems"] = affected
    received = sum(1 for a in approvals if a["decision"] == "Approve")
    status = {"phase": phase, "observedGeneration": 1, "approvalsRequired": required,
              "approvalsReceived": received, "approvals": f"{received}/{required}"}
    if activated:
        status["activatedAt"] = activated
    return {"apiVersion": "keygate.dev/v1alpha1", "kind": "KeyActivationRequest",
            "metadata": meta(ns, name, "uid-kar-" + name, created), "spec": spec, "status": status}


def approval(who, decision, at, comment=""):
    a = {"approver": who, "decision": decision, "time": at, "specHash": "sha256:fixture",
         "signature": "hmac-sha256:k1:fixture"}
    if comment:
        a["comment"] = comment
    return a


objects = [
    # payments: an overdue rotation, a compromised key, a PreActive key past its TTL that needs
    # more approvers than exist, a destroyed key; an auditor binding past review; bob is both
    # approver and (emergency) administrator.
    binding("payments", "administrators", "KeyAdministrator", [user("erin")], "2099-12-31"),
    binding("payments", "emergency-admins", "KeyAdministrator", [user("bob")], "2099-12-31"),
    binding("payments", "approvers", "KeyApprover", [user("bob"), user("carol")], "2099-12-31"),
    binding("payments", "auditors", "KeyAuditor", [user("dave")], "2020-01-01"),
    key("payments", "card-data", "uid-card-data", T("01-01T09:00:00"),
        {"purpose": "Encrypt", "algorithm": "AES-256", "backend": "softhsm", "origin": "Generated",
         "activation": {"requiredApprovals": 2}, "rotation": {"period": "2160h", "requireApproval": True},
         "jurisdiction": "eu", "affectedSystems": ["payments-db"]},
        {"state": "Active", "observedGeneration": 1, "currentVersion": 1,
         "versions": [{"version": 1, "state": "Active", "backendKeyId": "kg-card-data-1",
                       "createdAt": T("01-01T09:00:00"), "activatedAt": T("03-02T10:00:00")}],
         "activatedBy": {"request": "activate-card-data", "approvers": ["bob", "carol"]}},
        {"keygate.dev/created-by": "erin"}),
    key("payments", "token-signing", "uid-token-signing", T("03-01T08:00:00"),
        {"purpose": "Sign", "algorithm": "EC-P256", "backend": "softhsm",
         "compromised": {"reason": "private key exported by a leaked debug build"}, "jurisdiction": "eu"},
        {"state": "Compromised", "observedGeneration": 1, "currentVersion": 1,
         "versions": [{"version": 1, "state": "Compromised", "backendKeyId": "kg-token-signing-1",
                       "createdAt": T("03-01T08:00:00"), "activatedAt": T("03-02T11:00:00"),
                       "deactivatedAt": T("05-01T12:00:00")}],
         "activatedBy": {"request": "activate-token-signing", "approvers": ["alice", "bob"]}},
        {"keygate.dev/created-by": "erin"}),
    key("payments", "ledger-mac", "uid-ledger-mac", T("03-01T08:30:00"),
        {"purpose": "MAC", "algorithm": "HMAC-SHA256", "backend": "softhsm",
         "activation": {"requiredApprovals": 3, "preActiveTTL": "216h"}},
        {"state": "PreActive", "observedGeneration": 1, "currentVersion": 1,
         "versions": [{"version": 1, "state": "PreActive", "backendKeyId": "kg-ledger-mac-1",
                       "createdAt": T("03-01T08:30:00")}],
         "preActiveExpiresAt": T("03-10T08:30:00")},
        {"keygate.dev/created-by": "erin"}),
    key("payments", "old-export", "uid-old-export", T("01-02T09:00:00"),
        {"purpose": "Encrypt", "algorithm": "AES-256", "backend": "softhsm", "deactivate": True,
         "scheduleDestruction": True, "destruction": {"policy": "Destroy", "pendingWindow": "168h"}},
        {"state": "Destroyed", "observedGeneration": 1, "currentVersion": 1,
         "versions": [{"version": 1, "state": "Destroyed", "backendKeyId": "kg-old-export-1",
                       "createdAt": T("01-02T09:00:00"), "activatedAt": T("01-03T09:00:00"),
                       "deactivatedAt": T("02-01T09:00:00"), "destroyAt": T("02-09T09:00:00")}],
         "activatedBy": {"request": "activate-old-export", "approvers": ["bob", "carol"]}},
        {"keygate.dev/created-by": "erin"}),
    request("payments", "activate-card-data", "card-data", "alice", "Card vault go-live", "Activated",
            [approval("bob", "Approve", T("03-02T09:30:00"), "reviewed CHG-1001"),
             approval("carol", "Approve", T("03-02T09:55:00"))],
            change="CHG-1001", affected=["payments-db"], activated=T("03-02T10:00:00"), created=T("03-02T09:00:00")),
    request("payments", "activate-ledger-mac", "ledger-mac", "alice", "Ledger integrity", "Denied",
            [approval("bob", "Deny", T("03-03T10:00:00"), "no change ticket")], required=3,
            created=T("03-03T09:00:00")),
    # ml-platform: a tenant's own (External) key rotated to v2; v1's activation is missing from
    # the audit trail; a key whose self test failed; a KeyUser service account.
    binding("ml-platform", "administrators", "KeyAdministrator", [user("judy")], "2099-12-31"),
    binding("ml-platform", "approvers", "KeyApprover", [user("grace"), user("heidi"), user("ivan")], "2099-12-31"),
    binding("ml-platform", "key-users", "KeyUser", [{"kind": "ServiceAccount", "name": "inference", "namespace": "ml-platform"}],
            "2099-12-31"),
    key("ml-platform", "model-weights", "uid-model-weights", T("01-05T09:00:00"),
        {"purpose": "Encrypt", "algorithm": "AES-256", "backend": "softhsm", "origin": "External",
         "import": {"secretRef": {"name": "model-weights-wrapped", "key": "v2"}},
         "rotation": {"period": "876000h", "requireApproval": True}, "jurisdiction": "eu",
         "affectedSystems": ["model-store"]},
        {"state": "Active", "observedGeneration": 1, "currentVersion": 2,
         "versions": [{"version": 1, "state": "Deactivated", "backendKeyId": "kg-model-weights-1",
                       "createdAt": T("01-05T09:00:00"), "activatedAt": T("01-05T12:00:00"),
                       "deactivatedAt": T("11-01T10:00:00")},
                      {"version": 2, "state": "Active", "backendKeyId": "kg-model-weights-2",
                       "createdAt": T("09-01T09:00:00"), "activatedAt": T("11-01T10:00:00")}],
         "activatedBy": {"request": "activate-model-weights-v2", "approvers": ["grace", "heidi"]}},
        {"keygate.dev/created-by": "judy"}),
    key("ml-platform", "embeddings-signing", "uid-embeddings-signing", T("06-15T09:00:00"),
        {"purpose": "Sign", "algorithm": "RSA-3072", "backend": "softhsm"},
        {"state": "Failed", "observedGeneration": 1, "currentVersion": 1,
         "versions": [{"version": 1, "state": "Failed", "backendKeyId": "kg-embeddings-signing-1",
                       "createdAt": T("06-15T09:00:00")}],
         "conditions": [cond("Ready", "False", "SelfTestFailed",
                             "known-answer test of RSA-PSS failed on version 1: usage removed", T("06-15T09:00:05"))]},
        {"keygate.dev/created-by": "judy"}),
    request("ml-platform", "activate-model-weights-v2", "model-weights", "ivan", "Quarterly rotation", "Activated",
            [approval("grace", "Approve", T("11-01T09:00:00")), approval("heidi", "Approve", T("11-01T09:40:00"))],
            change="CHG-2002", affected=["model-store"], version=2, activated=T("11-01T10:00:00"),
            created=T("10-31T16:00:00")),
]


def record(time, event, ns, key, version, initiator="system:keygate", approvers=(), change="", affected=(),
           request="", result="Success", message="", operation="", reason="", count=0):
    r = {"time": T(time), "event": event, "namespace": ns, "key": key, "keyUid": "uid-" + key, "version": version,
         "backend": "softhsm", "backendKeyId": f"kg-{key}-{version}", "initiator": initiator,
         "approvers": list(approvers), "changeReference": change, "affectedSystems": list(affected),
         "request": request, "result": result}
    if message:
        r["message"] = message
    if operation:
        r["operation"] = operation
    if reason:
        r["reason"] = reason
    if count:
        r["count"] = count
    return r


records = [
    record("01-01T09:00:00", "KeyGenerated", "payments", "card-data", 1),
    record("01-02T09:00:00", "KeyGenerated", "payments", "old-export", 1),
    record("01-03T09:00:00", "KeyActivated", "payments", "old-export", 1, "alice", ["bob", "carol"], "CHG-0900",
           ["reports"], "activate-old-export", message="activated by request activate-old-export"),
    record("01-05T09:00:00", "KeyImported", "ml-platform", "model-weights", 1),
    # (model-weights v1's KeyActivated at 01-05T12:00 is missing: a finding)
    record("02-01T09:00:00", "KeyDeactivated", "payments", "old-export", 1, "erin"),
    record("02-02T09:00:00", "DestructionScheduled", "payments", "old-export", 1, "erin"),
    record("02-09T09:00:00", "KeyDestroyed", "payments", "old-export", 1),
    record("03-01T08:00:00", "KeyGenerated", "payments", "token-signing", 1),
    record("03-01T08:30:00", "KeyGenerated", "payments", "ledger-mac", 1),
    record("03-02T10:00:00", "KeyActivated", "payments", "card-data", 1, "alice", ["bob", "carol"], "CHG-1001",
           ["payments-db"], "activate-card-data", message="activated by request activate-card-data"),
    record("03-02T11:00:00", "KeyActivated", "payments", "token-signing", 1, "alice", ["alice", "bob"], "CHG-1002",
           ["api-gateway"], "activate-token-signing", message="activated by request activate-token-signing"),
    record("04-01T10:00:00", "KeyUseDenied", "payments", "card-data", 1, "system:serviceaccount:payments:batch",
           result="Denied", message="key payments/card-data has purpose Encrypt: it cannot Sign", operation="Sign",
           reason="WrongPurpose"),
    record("04-01T10:05:00", "KeyUseDenied", "payments", "card-data", 1, "system:serviceaccount:payments:batch",
           result="Denied", message="key payments/card-data has purpose Encrypt: it cannot Sign", operation="Sign",
           reason="WrongPurpose"),
    record("04-02T10:00:00", "KeyUseDenied", "ml-platform", "model-weights", 1, "system:serviceaccount:payments:batch",
           result="Denied", message="belongs to another tenant", operation="Encrypt", reason="OtherTenant"),
    record("04-03T10:00:00", "KeyUsed", "payments", "card-data", 1, "system:serviceaccount:payments:api",
           operation="Encrypt", count=1200),
    record("05-01T12:00:00", "KeyCompromised", "payments", "token-signing", 1, "erin",
           message="compromised: private key exported by a leaked debug build"),
    record("06-01T10:00:00", "DriftRepaired", "payments", "ledger-mac", 1, result="Success",
           message="usage attributes differed from state PreActive (CKA_SIGN was true); set back"),
    record("06-15T09:00:00", "KeyGenerated", "ml-platform", "embeddings-signing", 1),
    record("06-15T09:00:05", "KeyFailed", "ml-platform", "embeddings-signing", 1, result="Failure",
           message="known-answer test of RSA-PSS failed on version 1: usage removed"),
    record("09-01T09:00:00", "KeyGenerated", "ml-platform", "model-weights", 2, "judy"),
    record("11-01T10:00:00", "KeyDeactivated", "ml-platform", "model-weights", 1, message="superseded by version 2"),
    record("11-01T10:00:00", "KeyActivated", "ml-platform", "model-weights", 2, "ivan", ["grace", "heidi"], "CHG-2002",
           ["model-store"], "activate-model-weights-v2", message="activated by request activate-model-weights-v2"),
]

with open("state.json", "w") as f:
    json.dump({"apiVersion": "keygate.dev/local-state/v1", "objects": objects}, f, indent=2)
    f.write("\n")

prev = ""
with open("audit.log", "w") as f:
    for seq, r in enumerate(records, 1):
        line = json.dumps(r, separators=(",", ":"))[:-1] + f',"seq":{seq},"prevHash":"{prev}"}}'
        f.write(line + "\n")
        prev = hashlib.sha256(line.encode()).hexdigest()
