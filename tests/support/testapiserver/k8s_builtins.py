"""Built-in resources: Namespace, Secret, ConfigMap, Event (core/v1 and events.k8s.io/v1, one storage),
Lease, RBAC types, admission webhook configurations and the access reviews.

Each gets: struct key order (wire), a pseudo schema telling managedFields which lists/maps are
atomic, defaulting, and the validation errors kube-apiserver 1.28 reports for it.
"""
import base64
import re

import gotime
import label_selectors as selectors
import wire
from errors import ApiError, bad_request, cause
from resources import Resource

OBJ_REF = [("kind", None), ("namespace", None), ("name", None), ("uid", None), ("apiVersion", None),
           ("resourceVersion", None), ("fieldPath", None)]
ATOMIC = {"type": "object", "x-kubernetes-map-type": "atomic"}
ATOMIC_LIST = {"type": "array"}
MAP = {"type": "object", "additionalProperties": {"type": "string"}}


from hooks import Hooks  # noqa: E402  (re-exported: other modules use k8s_builtins.Hooks)


def decode_error(r, msg):
    return bad_request('%s in version "%s" cannot be handled as a %s: %s' % (r.kind, r.version, r.kind, msg))


def _micro_field(obj, r, *path):
    cur = obj
    for p in path[:-1]:
        cur = cur.get(p) if isinstance(cur, dict) else None
    if isinstance(cur, dict) and cur.get(path[-1]) is not None:
        v = cur[path[-1]]
        if not isinstance(v, str):
            raise decode_error(r, "parsing time as MicroTime: not a string")
        try:
            cur[path[-1]] = gotime.parse_micro(v)
        except gotime.TimeError as e:
            raise decode_error(r, str(e))


def _time_field(obj, r, *path):
    cur = obj
    for p in path[:-1]:
        cur = cur.get(p) if isinstance(cur, dict) else None
    if isinstance(cur, dict) and cur.get(path[-1]) is not None:
        try:
            cur[path[-1]] = gotime.parse_time(cur[path[-1]])
        except gotime.TimeError as e:
            raise decode_error(r, str(e))


# --- Namespace -----------------------------------------------------------------------------

class NamespaceHooks(Hooks):
    zero = {"spec": {}, "status": {}}

    def prepare_create(self, obj, r):
        name = obj["metadata"].get("name", "")
        labels = dict(obj["metadata"].get("labels") or {})
        labels["kubernetes.io/metadata.name"] = name
        obj["metadata"]["labels"] = labels

    def after_managed_create(self, obj):
        spec = obj.setdefault("spec", {})
        if "finalizers" not in spec:
            spec["finalizers"] = ["kubernetes"]
        obj["status"] = {"phase": "Active"}

    def prepare_update(self, new, old, r):
        labels = dict(new["metadata"].get("labels") or {})
        labels["kubernetes.io/metadata.name"] = new["metadata"].get("name", "")
        new["metadata"]["labels"] = labels
        new["status"] = old.get("status", {})
        new["spec"] = old.get("spec", {})  # spec.finalizers change only through /finalize


# --- Secret / ConfigMap ---------------------------------------------------------------------

def _b64_error(s):
    """Index Go's base64.StdEncoding reports for invalid input, or None when valid."""
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    s2 = s.replace("\r", "").replace("\n", "")
    n = len(s2)
    i = 0
    while i < n:
        c = s2[i]
        if c == "=":
            q = i % 4
            if q < 2:
                return i
            if q == 2:
                if i + 1 >= n or s2[i + 1] != "=":
                    return i + 1 if i + 1 < n else i
                if i + 2 != n:
                    return i + 2
                return None
            if i + 1 != n:
                return i + 1
            return None
        if c not in alphabet:
            return i
        i += 1
    if n % 4 == 1:
        return n - 1 if n > 0 else None
    if n % 4 != 0:
        return n
    return None


class SecretHooks(Hooks):
    zero = {}

    def decode(self, obj, r):
        for k, v in (obj.get("data") or {}).items():
            if not isinstance(v, str):
                raise decode_error(r, "illegal base64 data at input byte 0")
            idx = _b64_error(v)
            if idx is not None:
                raise decode_error(r, "illegal base64 data at input byte %d" % idx)

    def _merge(self, obj):
        sd = obj.pop("stringData", None)
        if sd:
            data = dict(obj.get("data") or {})
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode("utf-8")).decode()
            obj["data"] = data
        if "data" in obj and not obj["data"]:
            obj.pop("data")

    def prepare_create(self, obj, r):
        self._merge(obj)
        if not obj.get("type"):
            obj["type"] = "Opaque"

    def prepare_update(self, new, old, r):
        self._merge(new)
        if not new.get("type"):
            new["type"] = old.get("type", "Opaque")

    def validate(self, obj, old, r):
        errs = []
        data = obj.get("data") or {}
        t = obj.get("type")
        required = {"kubernetes.io/tls": ["tls.crt", "tls.key"],
                    "kubernetes.io/basic-auth": [], "kubernetes.io/ssh-auth": ["ssh-privatekey"],
                    "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
                    "kubernetes.io/dockercfg": [".dockercfg"]}.get(t, [])
        for k in required:
            if k not in data:
                errs.append(cause("FieldValueRequired", "Required value", "data[%s]" % k))
        key_re = re.compile(r"^[-._a-zA-Z0-9]+$")
        for k in sorted(data):
            if not key_re.match(k) or len(k) > 253:
                errs.append(cause("FieldValueInvalid", "Invalid value: %s: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')" % wire.compact(k), "data[%s]" % k))
        if old is not None:
            if old.get("immutable"):
                if (old.get("data") or {}) != data:
                    errs.append(cause("FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set", "data"))
                if not obj.get("immutable"):
                    errs.append(cause("FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set", "immutable"))
            if old.get("type") != t:
                errs.append(cause("FieldValueInvalid", "Invalid value: %s: field is immutable" % wire.compact(t), "type"))
        return errs


class ConfigMapHooks(Hooks):
    def validate(self, obj, old, r):
        errs = []
        if old is not None and old.get("immutable"):
            if (old.get("data") or {}) != (obj.get("data") or {}) or (old.get("binaryData") or {}) != (obj.get("binaryData") or {}):
                errs.append(cause("FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set", "data"))
        return errs


# --- Lease ---------------------------------------------------------------------------------

class LeaseHooks(Hooks):
    zero = {"spec": {}}

    def decode(self, obj, r):
        _micro_field(obj, r, "spec", "acquireTime")
        _micro_field(obj, r, "spec", "renewTime")

    def prepare_create(self, obj, r):
        obj.setdefault("spec", {})

    def prepare_update(self, new, old, r):
        new.setdefault("spec", {})

    def validate(self, obj, old, r):
        errs = []
        spec = obj.get("spec") or {}
        d = spec.get("leaseDurationSeconds")
        if d is not None and d <= 0:
            errs.append(cause("FieldValueInvalid", "Invalid value: %d: must be greater than 0" % d, "spec.leaseDurationSeconds"))
        t = spec.get("leaseTransitions")
        if t is not None and t < 0:
            errs.append(cause("FieldValueInvalid", "Invalid value: %d: must be greater than or equal to 0" % t, "spec.leaseTransitions"))
        return errs


# --- Events --------------------------------------------------------------------------------

CORE_EVENT_FIELDS = ["involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
                     "type", "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance"]


def _canon_core_event(obj):
    """Fill the non-omitempty fields the Go struct always writes, in struct order."""
    out = {"kind": obj.get("kind", "Event"), "apiVersion": obj.get("apiVersion", "v1"), "metadata": obj.get("metadata", {})}
    out["involvedObject"] = obj.get("involvedObject") or {}
    for k in ("reason", "message"):
        if obj.get(k):
            out[k] = obj[k]
    out["source"] = obj.get("source") or {}
    out["firstTimestamp"] = obj.get("firstTimestamp")
    out["lastTimestamp"] = obj.get("lastTimestamp")
    if obj.get("count"):
        out["count"] = obj["count"]
    if obj.get("type"):
        out["type"] = obj["type"]
    out["eventTime"] = obj.get("eventTime")
    for k in ("series", "action", "related"):
        if obj.get(k):
            out[k] = obj[k]
    out["reportingComponent"] = obj.get("reportingComponent") or ""
    out["reportingInstance"] = obj.get("reportingInstance") or ""
    for k, v in obj.items():
        if k not in out and k not in ("kind", "apiVersion", "metadata") and v is not None:
            out[k] = v
    return out


def events_v1_to_core(obj):
    core = {"kind": "Event", "apiVersion": "v1", "metadata": obj.get("metadata", {}),
            "involvedObject": obj.get("regarding") or {}, "reason": obj.get("reason"), "message": obj.get("note"),
            "source": obj.get("deprecatedSource") or {}, "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
            "lastTimestamp": obj.get("deprecatedLastTimestamp"), "count": obj.get("deprecatedCount"),
            "type": obj.get("type"), "eventTime": obj.get("eventTime"), "series": obj.get("series"),
            "action": obj.get("action"), "related": obj.get("related"),
            "reportingComponent": obj.get("reportingController"), "reportingInstance": obj.get("reportingInstance")}
    return _canon_core_event(core)


def core_to_events_v1(obj):
    out = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": obj.get("metadata", {}),
           "eventTime": obj.get("eventTime")}
    if obj.get("series"):
        out["series"] = obj["series"]
    if obj.get("reportingComponent"):
        out["reportingController"] = obj["reportingComponent"]
    if obj.get("reportingInstance"):
        out["reportingInstance"] = obj["reportingInstance"]
    for src, dst in (("action", "action"), ("reason", "reason")):
        if obj.get(src):
            out[dst] = obj[src]
    out["regarding"] = obj.get("involvedObject") or {}
    if obj.get("related"):
        out["related"] = obj["related"]
    if obj.get("message"):
        out["note"] = obj["message"]
    if obj.get("type"):
        out["type"] = obj["type"]
    out["deprecatedSource"] = obj.get("source") or {}
    out["deprecatedFirstTimestamp"] = obj.get("firstTimestamp")
    out["deprecatedLastTimestamp"] = obj.get("lastTimestamp")
    if obj.get("count"):
        out["deprecatedCount"] = obj["count"]
    return out


_QNAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_QNAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
              "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def _qualified_name_errors(value, field):
    errs = []
    name = value.split("/", 1)[-1] if "/" in value else value
    q = wire.compact(value)
    if not name:
        errs.append(cause("FieldValueInvalid", "Invalid value: %s: name part must be non-empty" % q, field))
    elif len(name) > 63:
        errs.append(cause("FieldValueInvalid", "Invalid value: %s: name part must be no more than 63 characters" % q, field))
    if not _QNAME.match(name):
        errs.append(cause("FieldValueInvalid", "Invalid value: %s: %s" % (q, _QNAME_MSG), field))
    return errs


def validate_event(core, ns, request_group):
    errs = []
    inv_ns = (core.get("involvedObject") or {}).get("namespace") or ""
    if not core.get("eventTime"):
        if inv_ns != ns:
            errs.append(cause("FieldValueInvalid", "Invalid value: %s: does not match event.namespace" % wire.compact(inv_ns), "involvedObject.namespace"))
    elif inv_ns == "" and ns:
        errs.append(cause("FieldValueInvalid", "Invalid value: \"\": does not match event.namespace", "involvedObject.namespace"))
    if request_group == "events.k8s.io":
        if not core.get("eventTime"):
            errs.append(cause("FieldValueRequired", "Required value", "eventTime"))
        else:
            rc = core.get("reportingComponent") or ""
            if not rc:
                errs.append(cause("FieldValueRequired", "Required value", "reportingController"))
            errs += _qualified_name_errors(rc, "reportingController")
            if not core.get("reportingInstance"):
                errs.append(cause("FieldValueRequired", "Required value", "reportingInstance"))
            if not core.get("action"):
                errs.append(cause("FieldValueRequired", "Required value", "action"))
            if not core.get("reason"):
                errs.append(cause("FieldValueRequired", "Required value", "reason"))
            if len(core.get("message") or "") > 1024:
                errs.append(cause("FieldValueInvalid", "Invalid value: \"\": can have at most 1024 characters", "message"))
        t = core.get("type") or ""
        if t not in ("Normal", "Warning"):
            errs.append(cause("FieldValueInvalid", "Invalid value: \"\": has invalid value: %s" % t, "type"))
    return errs


class CoreEventHooks(Hooks):
    zero = {"involvedObject": {}, "source": {}, "firstTimestamp": None, "lastTimestamp": None, "eventTime": None,
            "reportingComponent": "", "reportingInstance": ""}

    def decode(self, obj, r):
        _micro_field(obj, r, "eventTime")
        for f in ("firstTimestamp", "lastTimestamp"):
            _time_field(obj, r, f)

    def prepare_create(self, obj, r):
        canon = _canon_core_event(obj)
        obj.clear()
        obj.update(canon)

    def prepare_update(self, new, old, r):
        self.prepare_create(new, r)

    def validate(self, obj, old, r):
        if old is not None:
            return []
        return validate_event(obj, obj["metadata"].get("namespace", ""), "")


class EventsV1Hooks(Hooks):
    zero = {"regarding": {}, "deprecatedSource": {}, "eventTime": None, "deprecatedFirstTimestamp": None,
            "deprecatedLastTimestamp": None}

    def decode(self, obj, r):
        _micro_field(obj, r, "eventTime")
        for f in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp"):
            _time_field(obj, r, f)

    def prepare_create(self, obj, r):
        canon = core_to_events_v1(events_v1_to_core(obj))
        obj.clear()
        obj.update(canon)

    def prepare_update(self, new, old, r):
        self.prepare_create(new, r)

    def validate(self, obj, old, r):
        if old is not None:
            return []
        return validate_event(events_v1_to_core(obj), obj["metadata"].get("namespace", ""), "events.k8s.io")


# --- RBAC ----------------------------------------------------------------------------------

class RoleHooks(Hooks):
    def prepare_create(self, obj, r):
        obj.setdefault("rules", None)
        if obj.get("rules") is None:
            obj["rules"] = None

    def validate(self, obj, old, r):
        errs = []
        for i, rule in enumerate(obj.get("rules") or []):
            if not rule.get("verbs"):
                errs.append(cause("FieldValueRequired", "Required value: verbs must contain at least one value", "rules[%d].verbs" % i))
            if rule.get("nonResourceURLs") and r.namespaced:
                errs.append(cause("FieldValueInvalid", "Invalid value: %s: namespaced rules cannot apply to non-resource URLs" % wire.compact(rule["nonResourceURLs"]), "rules[%d].nonResourceURLs" % i))
            if not rule.get("nonResourceURLs") and not rule.get("resources") and r.namespaced:
                errs.append(cause("FieldValueRequired", "Required value: resource rules must supply at least one api group", "rules[%d].apiGroups" % i)) if "apiGroups" not in rule else None
        return errs


class BindingHooks(Hooks):
    zero = {"roleRef": {"apiGroup": "", "kind": "", "name": ""}}

    def prepare_create(self, obj, r):
        for s in obj.get("subjects") or []:
            if "apiGroup" not in s and s.get("kind") in ("User", "Group"):
                s["apiGroup"] = "rbac.authorization.k8s.io"

    def prepare_update(self, new, old, r):
        self.prepare_create(new, r)

    def validate(self, obj, old, r):
        errs = []
        ref = obj.get("roleRef") or {}
        allowed = ["Role", "ClusterRole"] if r.namespaced else ["ClusterRole"]
        if ref.get("apiGroup") != "rbac.authorization.k8s.io":
            errs.append(cause("FieldValueNotSupported", "Unsupported value: %s: supported values: \"rbac.authorization.k8s.io\"" % wire.compact(ref.get("apiGroup", "")), "roleRef.apiGroup"))
        if ref.get("kind") not in allowed:
            errs.append(cause("FieldValueNotSupported", "Unsupported value: %s: supported values: %s" % (
                wire.compact(ref.get("kind", "")), ", ".join('"%s"' % a for a in allowed)), "roleRef.kind"))
        if not ref.get("name"):
            errs.append(cause("FieldValueRequired", "Required value", "roleRef.name"))
        for i, s in enumerate(obj.get("subjects") or []):
            if not s.get("name"):
                errs.append(cause("FieldValueRequired", "Required value", "subjects[%d].name" % i))
            if s.get("kind") not in ("User", "Group", "ServiceAccount"):
                errs.append(cause("FieldValueNotSupported", "Unsupported value: %s: supported values: \"ServiceAccount\", \"User\", \"Group\"" % wire.compact(s.get("kind", "")), "subjects[%d].kind" % i))
        if old is not None and (old.get("roleRef") or {}) != ref:
            errs.append(cause("FieldValueInvalid", "Invalid value: %s: cannot change roleRef" % _go_struct_roleref(ref), "roleRef"))
        return errs


def _go_struct_roleref(ref):
    return 'rbac.RoleRef{APIGroup:"%s", Kind:"%s", Name:"%s"}' % (ref.get("apiGroup", ""), ref.get("kind", ""), ref.get("name", ""))


# --- admission registration -----------------------------------------------------------------

class WebhookConfigHooks(Hooks):
    def __init__(self, mutating):
        self.mutating = mutating

    def _defaults(self, obj):
        for wh in obj.get("webhooks") or []:
            for rule in wh.get("rules") or []:
                rule.setdefault("scope", "*")
            wh.setdefault("failurePolicy", "Fail")
            wh.setdefault("matchPolicy", "Equivalent")
            wh.setdefault("namespaceSelector", {})
            wh.setdefault("objectSelector", {})
            wh.setdefault("timeoutSeconds", 10)
            if self.mutating:
                wh.setdefault("reinvocationPolicy", "Never")

    def prepare_create(self, obj, r):
        self._defaults(obj)

    def prepare_update(self, new, old, r):
        self._defaults(new)

    def validate(self, obj, old, r):
        errs = []
        names = set()
        for i, wh in enumerate(obj.get("webhooks") or []):
            p = "webhooks[%d]" % i
            if not wh.get("name"):
                errs.append(cause("FieldValueRequired", "Required value", p + ".name"))
            elif wh["name"] in names:
                errs.append(cause("FieldValueDuplicate", "Duplicate value: %s" % wire.compact(wh["name"]), p + ".name"))
            names.add(wh.get("name"))
            if not wh.get("admissionReviewVersions"):
                errs.append(cause("FieldValueRequired", "Required value: must specify one of v1, v1beta1", p + ".admissionReviewVersions"))
            if wh.get("sideEffects") not in ("None", "NoneOnDryRun"):
                errs.append(cause("FieldValueNotSupported" if wh.get("sideEffects") else "FieldValueRequired",
                                  ("Unsupported value: %s: supported values: \"None\", \"NoneOnDryRun\"" % wire.compact(wh.get("sideEffects")))
                                  if wh.get("sideEffects") else "Required value", p + ".sideEffects"))
            cc = wh.get("clientConfig") or {}
            if not cc.get("url") and not cc.get("service"):
                errs.append(cause("FieldValueRequired", "Required value: exactly one of url or service is required", p + ".clientConfig"))
            if wh.get("failurePolicy") not in ("Fail", "Ignore"):
                errs.append(cause("FieldValueNotSupported", "Unsupported value: %s: supported values: \"Fail\", \"Ignore\"" % wire.compact(wh.get("failurePolicy")), p + ".failurePolicy"))
            t = wh.get("timeoutSeconds")
            if not isinstance(t, int) or t < 1 or t > 30:
                errs.append(cause("FieldValueInvalid", "Invalid value: %s: the timeout value must be between 1 and 30 seconds" % t, p + ".timeoutSeconds"))
        return errs


# --- registration --------------------------------------------------------------------------

RULE = ("list", [("verbs", None), ("apiGroups", None), ("resources", None), ("resourceNames", None),
                 ("nonResourceURLs", None)])
WEBHOOK = ("list", [("name", None), ("clientConfig", [("url", None), ("service", [("namespace", None), ("name", None), ("path", None), ("port", None)]), ("caBundle", None)]),
                    ("rules", ("list", [("operations", None), ("apiGroups", None), ("apiVersions", None), ("resources", None), ("scope", None)])),
                    ("failurePolicy", None), ("matchPolicy", None), ("namespaceSelector", None), ("objectSelector", None),
                    ("sideEffects", None), ("timeoutSeconds", None), ("admissionReviewVersions", None),
                    ("reinvocationPolicy", None), ("matchConditions", None)])
RESOURCE_ATTRS = [("namespace", None), ("verb", None), ("group", None), ("version", None), ("resource", None),
                  ("subresource", None), ("name", None)]
SAR_SPEC = [("resourceAttributes", RESOURCE_ATTRS), ("nonResourceAttributes", [("path", None), ("verb", None)]),
            ("user", None), ("groups", None), ("extra", None), ("uid", None)]
SAR_STATUS = [("allowed", None), ("denied", None), ("reason", None), ("evaluationError", None)]


def _r(group, version, plural, kind, namespaced, spec, hooks, pseudo=None, short=(), **kw):
    r = Resource(group, version, plural, kind, namespaced=namespaced, builtin=True)
    r.order_spec = wire.typed(spec)
    r.hooks = hooks
    r.schema = pseudo or {"type": "object"}
    r.short_names = list(short)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def builtin_resources():
    out = []
    ns = _r("", "v1", "namespaces", "Namespace", False,
            [("spec", [("finalizers", None)]), ("status", [("phase", None), ("conditions", ("list", [
                ("type", None), ("status", None), ("lastTransitionTime", None), ("reason", None), ("message", None)]))])],
            NamespaceHooks(),
            {"type": "object", "properties": {"spec": {"type": "object", "properties": {"finalizers": {"type": "array", "x-kubernetes-list-type": "set"}}}}},
            short=["ns"], field_selectors=selectors.NAMESPACE_FIELDS)
    ns.verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    ns.subresources = {"finalize": ["update"], "status": ["get", "patch", "update"]}
    ns.status_sub = True
    out.append(ns)
    out.append(_r("", "v1", "secrets", "Secret", True,
                  [("immutable", None), ("data", None), ("stringData", None), ("type", None)], SecretHooks(),
                  {"type": "object", "properties": {"data": MAP, "stringData": MAP}},
                  field_selectors=selectors.SECRET_FIELDS))
    out.append(_r("", "v1", "configmaps", "ConfigMap", True,
                  [("immutable", None), ("data", None), ("binaryData", None)], ConfigMapHooks(),
                  {"type": "object", "properties": {"data": MAP, "binaryData": MAP}}, short=["cm"]))
    core_ev = _r("", "v1", "events", "Event", True,
                 [("involvedObject", OBJ_REF), ("reason", None), ("message", None), ("source", [("component", None), ("host", None)]),
                  ("firstTimestamp", None), ("lastTimestamp", None), ("count", None), ("type", None), ("eventTime", None),
                  ("series", None), ("action", None), ("related", OBJ_REF), ("reportingComponent", None), ("reportingInstance", None)],
                 CoreEventHooks(), {"type": "object", "properties": {"involvedObject": ATOMIC, "related": ATOMIC}},
                 short=["ev"], field_selectors=selectors.EVENT_FIELDS, allow_create_on_update=True)
    out.append(core_ev)
    ev1 = _r("events.k8s.io", "v1", "events", "Event", True,
             [("eventTime", None), ("series", None), ("reportingController", None), ("reportingInstance", None),
              ("action", None), ("reason", None), ("regarding", OBJ_REF), ("related", OBJ_REF), ("note", None), ("type", None),
              ("deprecatedSource", [("component", None), ("host", None)]), ("deprecatedFirstTimestamp", None),
              ("deprecatedLastTimestamp", None), ("deprecatedCount", None)],
             EventsV1Hooks(), {"type": "object", "properties": {"regarding": ATOMIC, "related": ATOMIC}},
             short=["ev"], field_selectors=selectors.EVENT_FIELDS, allow_create_on_update=True)
    ev1.storage = ("", "events")
    ev1.to_storage = events_v1_to_core
    ev1.from_storage = core_to_events_v1
    core_ev.from_storage = _canon_core_event
    out.append(ev1)
    out.append(_r("coordination.k8s.io", "v1", "leases", "Lease", True,
                  [("spec", [("holderIdentity", None), ("leaseDurationSeconds", None), ("acquireTime", None),
                             ("renewTime", None), ("leaseTransitions", None)])], LeaseHooks(),
                  allow_create_on_update=True))
    rbac = "rbac.authorization.k8s.io"
    rules_schema = {"type": "object", "properties": {"rules": ATOMIC_LIST}}
    out.append(_r(rbac, "v1", "roles", "Role", True, [("rules", RULE)], RoleHooks(), rules_schema,
                  allow_create_on_update=True))
    out.append(_r(rbac, "v1", "clusterroles", "ClusterRole", False,
                  [("rules", RULE), ("aggregationRule", None)], RoleHooks(), rules_schema, allow_create_on_update=True))
    binding_spec = [("subjects", ("list", [("kind", None), ("apiGroup", None), ("name", None), ("namespace", None)])),
                    ("roleRef", [("apiGroup", None), ("kind", None), ("name", None)])]
    binding_schema = {"type": "object", "properties": {"subjects": ATOMIC_LIST, "roleRef": ATOMIC}}
    out.append(_r(rbac, "v1", "rolebindings", "RoleBinding", True, binding_spec, BindingHooks(), binding_schema,
                  allow_create_on_update=True))
    out.append(_r(rbac, "v1", "clusterrolebindings", "ClusterRoleBinding", False, binding_spec, BindingHooks(),
                  binding_schema, allow_create_on_update=True))
    wh_schema = {"type": "object", "properties": {"webhooks": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {"rules": ATOMIC_LIST, "namespaceSelector": ATOMIC,
                                                   "objectSelector": ATOMIC, "admissionReviewVersions": ATOMIC_LIST,
                                                   "matchConditions": ATOMIC_LIST}}}}}
    ar = "admissionregistration.k8s.io"
    out.append(_r(ar, "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False,
                  [("webhooks", WEBHOOK)], WebhookConfigHooks(True), wh_schema, has_generation=True))
    out.append(_r(ar, "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False,
                  [("webhooks", WEBHOOK)], WebhookConfigHooks(False), wh_schema, has_generation=True))
    az = "authorization.k8s.io"
    for plural, kind, namespaced in (("selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
                                     ("subjectaccessreviews", "SubjectAccessReview", False),
                                     ("localsubjectaccessreviews", "LocalSubjectAccessReview", True),
                                     ("selfsubjectrulesreviews", "SelfSubjectRulesReview", False)):
        status_spec = SAR_STATUS if kind != "SelfSubjectRulesReview" else [
            ("resourceRules", ("list", [("verbs", None), ("apiGroups", None), ("resources", None), ("resourceNames", None)])),
            ("nonResourceRules", ("list", [("verbs", None), ("nonResourceURLs", None)])),
            ("incomplete", None), ("evaluationError", None)]
        r = _r(az, "v1", plural, kind, namespaced, [("spec", SAR_SPEC), ("status", status_spec)], Hooks(),
               {"type": "object", "properties": {"spec": {"type": "object", "properties": {"groups": ATOMIC_LIST}}}})
        r.virtual = True
        r.verbs = ["create"]
        out.append(r)
    r = _r("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
           [("status", [("userInfo", [("username", None), ("uid", None), ("groups", None), ("extra", None)])])], Hooks())
    r.virtual = True
    r.verbs = ["create"]
    out.append(r)
    import workloads  # Deployment, Service, PVC, NetworkPolicy, PodDisruptionBudget
    out.extend(workloads.resources(out))
    import tokens  # Pod, TokenReview, serviceaccounts/token
    tokens.extend_resources(out)
    import crds  # apiextensions.k8s.io/v1 CustomResourceDefinition
    out.append(crds.resource())
    return out


# Discovery order of built-in groups (01: built-in groups first, CRD groups appended).
GROUP_ORDER = ["apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
               "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
               "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
               "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io"]
