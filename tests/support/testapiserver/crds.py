"""apiextensions.k8s.io/v1 CustomResourceDefinitions served like kube-apiserver 1.28 (sample 21).

- The built-in resource `customresourcedefinitions` (cluster-scoped, status subresource, shortName crd/crds):
  defaulting as apiextensions v1 does (names.singular = lower-case kind, names.listKind = kind + "List",
  conversion.strategy None, served/storage written out), a fresh status on create (`conditions: null`, empty
  acceptedNames, storedVersions = the storage version), the whole CRD validation of crd_validation.py on create
  and update, spec.scope/group/names.plural/names.kind immutable, struct key order (JSONSchemaProps order).
- A controller (the naming + establishing controllers of kube-apiserver) that, a few milliseconds after every CRD
  write, accepts names (conflicts with other CRDs of the group -> NamesAccepted False with the recorded reasons,
  never served), sets Established and (un)registers the custom resources in the Registry, so discovery and the
  resource URLs follow. Deleting a CRD adds the `customresourcecleanup.apiextensions.k8s.io` finalizer (API
  DELETE answers the CRD with deletionTimestamp); the controller then deletes every custom resource of it,
  stops serving it and removes the CRD.
- bootstrap(): the `--crd` CRDs are stored as already-established CRD objects before the server is ready.
"""
import threading
import uuid

import crd_validation
import gotime
import resources
import wire
from errors import cause, invalid
from hooks import Hooks
from jsoncopy import copy_json

GROUP = "apiextensions.k8s.io"
KEY = (GROUP, "customresourcedefinitions")
FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

# --- wire order (Go struct order of apiextensions/v1 types) ------------------------------------------

_PROPS_FIELDS = ["id", "$schema", "$ref", "description", "type", "format", "title", "default", "maximum",
                 "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
                 "minItems", "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties", "required",
                 "items", "allOf", "oneOf", "anyOf", "not", "properties", "additionalProperties", "patternProperties",
                 "dependencies", "additionalItems", "definitions", "externalDocs", "example", "nullable",
                 "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
                 "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
                 "x-kubernetes-validations"]
_RULE_FIELDS = ["rule", "message", "messageExpression", "reason", "fieldPath"]


def order_props(p):
    """JSONSchemaProps in struct order; maps of schemas (properties, ...) sorted, values ordered again."""
    if not isinstance(p, dict):
        return p
    out = {}
    for k in _PROPS_FIELDS + sorted(k for k in p if k not in _PROPS_FIELDS):
        if k not in p:
            continue
        v = p[k]
        if k in ("properties", "patternProperties", "definitions") and isinstance(v, dict):
            v = {n: order_props(v[n]) for n in sorted(v)}
        elif k in ("items", "additionalProperties", "not", "additionalItems"):
            v = [order_props(x) for x in v] if isinstance(v, list) else order_props(v)
        elif k in ("allOf", "oneOf", "anyOf") and isinstance(v, list):
            v = [order_props(x) for x in v]
        elif k == "x-kubernetes-validations" and isinstance(v, list):
            v = [wire.order(x, [(f, None) for f in _RULE_FIELDS]) for x in v]
        elif k in ("default", "enum", "example"):
            v = wire.sort_all(v)
        out[k] = v
    return out


NAMES = [("plural", None), ("singular", None), ("shortNames", None), ("kind", None), ("listKind", None),
         ("categories", None)]
COLUMN = ("list", [("name", None), ("type", None), ("format", None), ("description", None), ("priority", None),
                   ("jsonPath", None)])
VERSION = ("list", [("name", None), ("served", None), ("storage", None), ("deprecated", None),
                    ("deprecationWarning", None), ("schema", [("openAPIV3Schema", order_props)]),
                    ("subresources", [("status", None), ("scale", [("specReplicasPath", None),
                                                                   ("statusReplicasPath", None),
                                                                   ("labelSelectorPath", None)])]),
                    ("additionalPrinterColumns", COLUMN)])
CONVERSION = [("strategy", None), ("webhook", [("clientConfig", [("url", None), ("service", [
    ("namespace", None), ("name", None), ("path", None), ("port", None)]), ("caBundle", None)]),
    ("conversionReviewVersions", None)])]
CONDITION = ("list", [("type", None), ("status", None), ("lastTransitionTime", None), ("reason", None),
                      ("message", None)])
ORDER = [("spec", [("group", None), ("names", NAMES), ("scope", None), ("versions", VERSION),
                   ("conversion", CONVERSION), ("preserveUnknownFields", None)]),
         ("status", [("conditions", CONDITION), ("acceptedNames", NAMES), ("storedVersions", None)])]

# managedFields: versions is an atomic list (f:versions: {} as recorded in A2)
PSEUDO = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
    "versions": {"type": "array"}, "names": {"type": "object", "properties": {"shortNames": {"type": "array"},
                                                                                "categories": {"type": "array"}}}}}}}


# --- defaulting --------------------------------------------------------------------------------------

def set_defaults(crd):
    """apiextensions v1 SetDefaults_CustomResourceDefinition (in place)."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return crd
    names = spec.get("names")
    if isinstance(names, dict):
        if not names.get("singular") and names.get("kind"):
            names["singular"] = str(names["kind"]).lower()
        if not names.get("listKind") and names.get("kind"):
            names["listKind"] = str(names["kind"]) + "List"
    if not isinstance(spec.get("conversion"), dict):
        spec["conversion"] = {"strategy": "None"}
    conv = spec["conversion"]
    svc = ((conv.get("webhook") or {}).get("clientConfig") or {}).get("service")
    if isinstance(svc, dict) and "port" not in svc:
        svc["port"] = 443
    for v in spec.get("versions") or []:
        if isinstance(v, dict):
            v.setdefault("served", False)
            v.setdefault("storage", False)
    return crd


def storage_version(crd):
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("storage"):
            return v.get("name")
    return None


def fresh_status(crd):
    sv = storage_version(crd)
    return {"conditions": None, "acceptedNames": {"plural": "", "kind": ""},
            "storedVersions": [sv] if sv else None}


class CRDHooks(Hooks):
    zero = {"spec": {"names": {}}, "status": {}}   # Go zero value: names is a struct, conversion a pointer

    def prepare_create(self, obj, r):
        set_defaults(obj)
        obj.pop("status", None)

    def after_managed_create(self, obj):
        obj["status"] = fresh_status(obj)

    def prepare_update(self, new, old, r):
        set_defaults(new)
        status = copy_json(old.get("status") or fresh_status(old))
        sv = storage_version(new)
        stored = list(status.get("storedVersions") or [])
        if sv and sv not in stored:
            stored.append(sv)
        status["storedVersions"] = stored or None
        new["status"] = status

    def validate(self, obj, old, r):
        problems = crd_validation.problems_of(obj, with_meta=False)
        if old is not None:
            problems += update_problems(obj, old)
        return problems


def _established(crd):
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in ((crd.get("status") or {}).get("conditions") or []))


def update_problems(new, old):
    spec, ospec = new.get("spec") or {}, old.get("spec") or {}
    errs = []

    def immutable(a, b, path):
        if a != b:
            errs.append(cause("FieldValueInvalid", "Invalid value: %s: field is immutable" % _go(a), path))
    if _established(old):
        immutable(spec.get("scope"), ospec.get("scope"), "spec.scope")
        immutable((spec.get("names") or {}).get("kind"), (ospec.get("names") or {}).get("kind"), "spec.names.kind")
    immutable(spec.get("group"), ospec.get("group"), "spec.group")
    immutable((spec.get("names") or {}).get("plural"), (ospec.get("names") or {}).get("plural"), "spec.names.plural")
    return errs


def _go(v):
    import json
    return json.dumps(v) if isinstance(v, str) else str(v)


def resource():
    import k8s_builtins
    r = k8s_builtins._r(GROUP, "v1", "customresourcedefinitions", "CustomResourceDefinition", False, ORDER,
                        CRDHooks(), PSEUDO, short=["crd", "crds"], has_generation=True)
    r.status_sub = True
    r.subresources = {"status": ["get", "patch", "update"]}
    r.allow_unconditional_update = False
    r.delete_finalizers = [FINALIZER]
    r.storage_version_hash = "jfWCUB31mvA="
    return r


# --- naming / establishing controller -------------------------------------------------------------------

def _cond(type_, status, reason, message, now):
    return {"type": type_, "status": status, "lastTransitionTime": now, "reason": reason, "message": message}


def _set_condition(conds, c):
    for i, old in enumerate(conds):
        if old["type"] == c["type"]:
            if old["status"] == c["status"]:
                c = dict(c, lastTransitionTime=old["lastTransitionTime"])
            conds[i] = c
            return
    conds.append(c)


def names_and_conditions(crd, others, now):
    """kube-apiserver's NamingConditionController.calculateNamesAndConditions."""
    resources_used, kinds_used = set(), set()
    for o in others:
        if (o.get("spec") or {}).get("group") != (crd.get("spec") or {}).get("group"):
            continue
        an = (o.get("status") or {}).get("acceptedNames") or {}
        resources_used.update([an.get("plural", ""), an.get("singular", "")] + list(an.get("shortNames") or []))
        kinds_used.update([an.get("kind", ""), an.get("listKind", "")])
    req = (crd.get("spec") or {}).get("names") or {}
    acc = dict((crd.get("status") or {}).get("acceptedNames") or {"plural": "", "kind": ""})
    new = dict(acc)
    accepted = None   # (status, reason, message)

    def fresh(requested, accepted_name, used):
        if requested == accepted_name or requested not in used:
            return None
        return '"%s" is already in use' % requested
    for field, reason in (("plural", "PluralConflict"), ("singular", "SingularConflict")):
        err = fresh(req.get(field, ""), acc.get(field, ""), resources_used)
        if err:
            accepted = ("False", reason, err)
        else:
            new[field] = req.get(field, "")
    if list(req.get("shortNames") or []) != list(acc.get("shortNames") or []):
        errs = []
        existing = set(acc.get("shortNames") or [])
        for s in req.get("shortNames") or []:
            if s in existing:
                continue
            e = fresh(s, "", resources_used)
            if e:
                errs.append(e)
        if errs:
            accepted = ("False", "ShortNamesConflict", errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
        else:
            new["shortNames"] = list(req.get("shortNames") or [])
    for field, reason in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        err = fresh(req.get(field, ""), acc.get(field, ""), kinds_used)
        if err:
            accepted = ("False", reason, err)
        else:
            new[field] = req.get(field, "")
    if req.get("categories"):
        new["categories"] = list(req["categories"])
    else:
        new.pop("categories", None)
    if accepted is None:
        accepted = ("True", "NoConflicts", "no conflicts found")
    old_est = [c for c in ((crd.get("status") or {}).get("conditions") or []) if c.get("type") == "Established"]
    est = dict(old_est[0]) if old_est else _cond("Established", "False", "NotAccepted", "not all names are accepted", now)
    if est["status"] != "True" and accepted[0] == "True":
        est = _cond("Established", "False", "Installing", "the initial names have been accepted", now)
    # Go omitempty: singular/shortNames/listKind/categories vanish when empty
    new = {k: v for k, v in new.items() if v or k in ("plural", "kind")}
    return new, _cond("NamesAccepted", accepted[0], accepted[1], accepted[2], now), est


def _ordered_names(n):
    return {k: n[k] for k, _ in NAMES if k in n}


class Controller:
    """Naming + establishing controller and the dynamic registration of custom resources."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.store = ctx.store
        self.registry = ctx.registry
        self.wake = threading.Event()
        self.served = {}     # CRD name -> (group, plural) registered by us

    def _on_event(self, ev):
        if ev.key == KEY:
            self.wake.set()

    def start(self):
        with self.store.lock:
            for crd in self.store.items(KEY):
                if _established(crd):
                    spec = crd["spec"]
                    self.served[crd["metadata"]["name"]] = (spec["group"], spec["names"]["plural"], crd["metadata"]["resourceVersion"])
        self.store.listeners.append(self._on_event)
        threading.Thread(target=self._run, name="crd-controllers", daemon=True).start()
        self.wake.set()

    def _run(self):
        while True:
            self.wake.wait()
            self.wake.clear()
            try:
                for _ in range(6):
                    if not self.reconcile():
                        break
            except Exception as e:  # noqa: BLE001  a controller bug must not stop the server
                import sys
                import traceback
                sys.stderr.write("testapiserver: crd controller: %s\n%s" % (e, traceback.format_exc()))

    def reconcile(self):
        changed = False
        with self.store.lock:
            crds = self.store.items(KEY)
            crds.sort(key=lambda c: c["metadata"].get("creationTimestamp", "") + "|" + c["metadata"]["resourceVersion"].zfill(12))
            for crd in crds:
                name = crd["metadata"]["name"]
                if crd["metadata"].get("deletionTimestamp"):
                    self._finalize(crd)
                    changed = True
                    continue
                now = gotime.now_rfc3339()
                others = [self.store.get(KEY, "", c["metadata"]["name"]) for c in crds]
                others = [o for o in others if o is not None]
                names, acc, est = names_and_conditions(crd, others, now)
                status = dict(crd.get("status") or {})
                conds = [dict(c) for c in (status.get("conditions") or [])]
                _set_condition(conds, acc)
                _set_condition(conds, est)
                if names != (status.get("acceptedNames") or {}) or conds != (status.get("conditions") or []):
                    status["acceptedNames"] = _ordered_names(names)
                    status["conditions"] = conds
                    crd = self.store.write(KEY, "", name, dict(crd, status=status))
                    changed = True
                # establishing controller: names accepted -> Established True
                status = dict(crd.get("status") or {})
                conds = [dict(c) for c in (status.get("conditions") or [])]
                if any(c["type"] == "NamesAccepted" and c["status"] == "True" for c in conds) and not _established(crd):
                    _set_condition(conds, _cond("Established", "True", "InitialNamesAccepted",
                                                "the initial names have been accepted", gotime.now_rfc3339()))
                    status["conditions"] = conds
                    crd = self.store.write(KEY, "", name, dict(crd, status=status))
                    changed = True
                self._sync_registry(crd)
            live = {c["metadata"]["name"] for c in self.store.items(KEY)}
            for name in list(self.served):
                if name not in live:
                    self._unserve(name)
        return changed

    def _sync_registry(self, crd):
        name = crd["metadata"]["name"]
        if not _established(crd) or crd["metadata"].get("deletionTimestamp"):
            if name in self.served:
                self._unserve(name)
            return
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["plural"], crd["metadata"]["resourceVersion"])
        if self.served.get(name) == key:
            return
        self._unserve(name)
        self.registry.replace(spec["group"], spec["names"]["plural"], resources.resources_from_crd(crd))
        self.served[name] = key

    def _unserve(self, name):
        key = self.served.pop(name, None)
        if key:
            self.registry.replace(key[0], key[1], [])

    def _finalize(self, crd):
        """The finalizer controller: deletes every custom resource of the CRD, then the CRD."""
        name = crd["metadata"]["name"]
        spec = crd.get("spec") or {}
        self._unserve(name)
        skey = (spec.get("group"), (spec.get("names") or {}).get("plural"))
        for o in list(self.store.items(skey)):
            m = o.get("metadata") or {}
            self.store.delete(skey, m.get("namespace", ""), m.get("name"))
        fin = [f for f in crd["metadata"].get("finalizers") or [] if f != FINALIZER]
        if fin:
            if fin != crd["metadata"].get("finalizers"):
                self.store.write(KEY, "", name, dict(crd, metadata=dict(crd["metadata"], finalizers=fin)))
        else:
            meta = dict(crd["metadata"])
            meta.pop("finalizers", None)
            self.store.delete(KEY, "", name, dict(crd, metadata=meta))


# --- --crd files ----------------------------------------------------------------------------------------

def check_file_crd(crd):
    """The validation the API applies to a CRD create; raises the 422 ApiError."""
    crd = set_defaults(copy_json(crd))
    problems = crd_validation.problems_of(crd)
    if problems:
        raise invalid("CustomResourceDefinition.apiextensions.k8s.io", (crd.get("metadata") or {}).get("name", ""),
                      GROUP, "CustomResourceDefinition", problems)


def bootstrap(store, crds):
    """Stores the --crd CRDs as established CRD objects (caller holds store.lock)."""
    now = gotime.now_rfc3339()
    for crd in crds:
        obj = set_defaults(copy_json(crd))
        meta = {k: v for k, v in (obj.get("metadata") or {}).items()
                if k in ("name", "labels", "annotations")}
        meta.update({"uid": str(uuid.uuid4()), "generation": 1, "creationTimestamp": now})
        obj["metadata"] = meta
        obj["apiVersion"] = GROUP + "/v1"
        obj["kind"] = "CustomResourceDefinition"
        names = _ordered_names({k: v for k, v in (obj["spec"].get("names") or {}).items() if v})
        sv = storage_version(obj)
        obj["status"] = {"conditions": [
            _cond("NamesAccepted", "True", "NoConflicts", "no conflicts found", now),
            _cond("Established", "True", "InitialNamesAccepted", "the initial names have been accepted", now)],
            "acceptedNames": names, "storedVersions": [sv] if sv else None}
        store.write(KEY, "", meta["name"], obj, "ADDED")
