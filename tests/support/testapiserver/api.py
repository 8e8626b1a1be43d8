"""Resource verbs: get, list, create, update (PUT), patch (merge/json/apply), delete, deletecollection.

The order of checks follows kube-apiserver's handlers so that the first error a client sees is the
same one the real server would report.
"""
import base64
import json
import time
import uuid

import admission
import gotime
import managedfields
import objects
import patch as patch_mod
import rbac_escalation
import schema as schema_mod
import cel
import label_selectors as selectors
import wire
from errors import (ApiError, already_exists, bad_request, cause, conflict, internal, invalid, method_not_allowed,
                    not_found, unsupported_media)
from store import TooOld
from jsoncopy import copy_json

BODY_MEDIA = "application/json, application/yaml, application/vnd.kubernetes.protobuf"
PATCH_MEDIA_CR = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
PATCH_MEDIA_BUILTIN = ("application/json-patch+json, application/merge-patch+json, "
                       "application/strategic-merge-patch+json, application/apply-patch+yaml")


class Op:
    """What one write request carries besides the object."""

    def __init__(self, req, r, ns, name, sub):
        self.req = req
        self.r = r
        self.ns = ns
        self.name = name
        self.sub = sub
        self.user = req.user
        self.dry_run = "All" in req.query.get("dryRun", [])
        self.warnings = []
        self.manager = req.query_one("fieldManager") or manager_from_ua(req.headers.get("User-Agent", ""))


def manager_from_ua(ua):
    if not ua:
        return "unknown"
    return ua.split("/", 1)[0]


def options_invalid(kind, causes):
    return invalid("%s.meta.k8s.io" % kind, "", "meta.k8s.io", kind, causes, details_name=False)


# --- decoding ------------------------------------------------------------------------------

def decode_body(req, r, for_patch=False):
    """(object, body text, whether the body may repeat a key: only then are duplicates looked for)."""
    ctype = req.content_type()
    text = req.body.decode("utf-8", errors="replace")
    may_have_dups = False
    if ctype == "application/json":
        try:
            obj, may_have_dups = wire.parse_json_dups(text)
        except wire.DecodeError as e:
            raise bad_request("the object provided is unrecognized (must be of type %s): couldn't get version/kind; json parse error: %s (%s)"
                              % (r.kind, e, _truncate(text)))
    elif ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            obj = wire.parse_yaml(text)
            may_have_dups = True
        except wire.DecodeError as e:
            raise bad_request("the object provided is unrecognized (must be of type %s): couldn't get version/kind; %s" % (r.kind, e))
    else:
        raise unsupported_media(BODY_MEDIA)
    if not isinstance(obj, dict):
        raise bad_request("the object provided is unrecognized (must be of type %s): couldn't get version/kind; json parse error: json: cannot unmarshal %s into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }" % (r.kind, schema_mod.type_name(obj)))
    return obj, text, may_have_dups


def _truncate(text):
    return text[:30] + " ..." if len(text) > 30 else text


def check_kind(obj, text, r):
    """apiVersion/kind checks done by the decoder (400) and the kind check (422)."""
    kind = obj.get("kind")
    av = obj.get("apiVersion")
    if not kind:
        raise bad_request("the object provided is unrecognized (must be of type %s): Object 'Kind' is missing in '%s' (%s)"
                          % (r.kind, text, _truncate(text)))
    if not av:
        raise bad_request("the object provided is unrecognized (must be of type %s): Object 'apiVersion' is missing in '%s' (%s)"
                          % (r.kind, text, _truncate(text)))
    if av != r.api_version:
        err = bad_request("the API version in the data (%s) does not match the expected API version (%s)" % (av, r.api_version))
        # the real decoder also warns about every top-level field it could not place
        err.headers = [("Warning", '299 - "unknown field \\"%s\\""' % k) for k in sorted(obj) if k not in ("apiVersion", "kind", "metadata")]
        raise err
    if kind != r.kind:
        name = (obj.get("metadata") or {}).get("name", "")
        label = kind + "." + r.group if r.group else kind
        raise invalid(label, name, r.group, kind, [cause("FieldValueInvalid", 'Invalid value: "%s": must be %s' % (kind, r.kind), "kind")])


def field_validation(req, opts_kind):
    fv = req.query_one("fieldValidation") or ""
    if fv not in ("", "Ignore", "Strict", "Warn"):
        raise options_invalid(opts_kind, [cause("FieldValueNotSupported", 'Unsupported value: "%s": supported values: "", "Ignore", "Strict", "Warn"' % fv, "fieldValidation")])
    return fv or "Warn"


def prune_and_warn(op, obj, fv, strict_prefix=None, may_have_dups=True):
    """Prunes unknown fields (CRs) and reports duplicates; Warn -> Warning headers, Strict -> 400."""
    r = op.r
    dups = wire.collect_dups(obj) if may_have_dups else []
    unknown = schema_mod.prune(obj, r.schema) if not r.builtin else []
    problems = ['unknown field "%s"' % p for p in sorted(unknown)] + ['duplicate field "%s"' % p for p in dups]
    if not problems:
        return
    if fv == "Strict":
        raise bad_request('%s in version "%s" cannot be handled as a %s: strict decoding error: %s'
                          % (r.kind, r.version, r.kind, ", ".join(problems)))
    if fv == "Warn":
        op.warnings.extend(problems)


def to_storage(r, obj):
    return r.to_storage(obj) if r.to_storage else obj


def from_storage(r, obj):
    if obj is None:
        return None
    return r.from_storage(obj) if r.from_storage else obj


# --- namespace checks -------------------------------------------------------------------------

def check_namespace_for_create(ctx, r, ns, name):
    if not r.namespaced:
        return
    nsobj = ctx.store.get(("", "namespaces"), "", ns)
    if nsobj is None:
        raise not_found("namespaces", "", ns)
    if (nsobj.get("metadata") or {}).get("deletionTimestamp"):
        raise ApiError(403, '%s "%s" is forbidden: unable to create new content in namespace %s because it is being terminated'
                       % (r.qualified, name, ns), "Forbidden",
                       {"name": name, "group": r.group, "kind": r.plural,
                        "causes": [cause("NamespaceTerminating", "namespace %s is being terminated" % ns, "metadata.namespace")]}
                       if r.group else
                       {"name": name, "kind": r.plural,
                        "causes": [cause("NamespaceTerminating", "namespace %s is being terminated" % ns, "metadata.namespace")]})


# --- validation ------------------------------------------------------------------------------

def validate_object(ctx, op, obj, old):
    """RBAC escalation check (403), then schema + metadata + kind-specific validation -> 422 Invalid."""
    r = op.r
    rbac_escalation.check(ctx, op, obj, old)
    meta = obj.get("metadata") or {}
    causes = []
    structural = []
    if old is None:
        causes += objects.validate_meta(meta, label_name=(r.plural == "namespaces"))
        structural = [c for c in causes if c["reason"] == "FieldValueRequired"]
        causes = [c for c in causes if c["reason"] != "FieldValueRequired"]
    else:
        causes += objects.validate_meta(meta, check_name=False)
        if meta.get("deletionTimestamp"):
            new_f = [f for f in meta.get("finalizers") or [] if f not in (old["metadata"].get("finalizers") or [])]
            if new_f:
                c = cause("FieldValueForbidden", "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{%s}"
                          % ", ".join(json.dumps(f) for f in new_f), "metadata.finalizers")
                causes += [c, dict(c)]   # the real server validates metadata twice on update
    if not r.builtin:
        res = schema_mod.validate(obj, r.schema)
        structural += res.structural
        all_causes = structural + causes + res.value
        if r.has_cel:
            # CEL rules run unless a blocking error was found (apiextensions hasBlockingErr)
            if structural or any(c["reason"] in _CEL_BLOCKING for c in all_causes):
                all_causes.append(cause("FieldValueInvalid", 'Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation', "<nil>"))
            else:
                all_causes += cel.evaluate(obj, old, r.schema)
        causes = all_causes
    else:
        causes = structural + causes + (r.hooks.validate(obj, old, r) if r.hooks else [])
    if causes:
        name = meta.get("name", "")
        if not r.group or r.storage == ("", "events"):
            raise invalid(r.kind, name, "", r.kind, causes)
        raise invalid(r.kind_label, name, r.group, r.kind, causes)


_CEL_BLOCKING = ("FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany", "FieldValueTypeInvalid")  # 08, 21


# --- managedFields helpers --------------------------------------------------------------------

def _zero(r):
    z = copy_json(r.hooks.zero) if (r.builtin and r.hooks) else {}
    z["metadata"] = {}
    return z


def update_managed(op, live, new, subresource=""):
    r = op.r
    entries = (live or {}).get("metadata", {}).get("managedFields") if live else None
    base = live if live is not None else _zero(r)
    return managedfields.update(entries, base, new, r.schema, op.manager, r.api_version, gotime.now_rfc3339(), subresource)


def set_managed(obj, entries):
    meta = obj.setdefault("metadata", {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


# --- create ------------------------------------------------------------------------------------

def create(ctx, req, r, ns, name_in_url, sub):
    if sub:
        raise method_not_allowed("create", r.plural, r.group)
    fv = field_validation(req, "CreateOptions")
    obj, text, may_have_dups = decode_body(req, r)
    check_kind(obj, text, r)
    if r.builtin and r.hooks:
        r.hooks.decode(obj, r)
    if r.virtual:
        import reviews
        return reviews.create_review(ctx, req, r, ns, obj)
    op = Op(req, r, ns, None, "")
    prune_and_warn(op, obj, fv, may_have_dups=may_have_dups)
    obj = wire.normalized_copy(obj)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    meta = dict(meta)
    obj["metadata"] = meta
    if r.namespaced:
        if meta.get("namespace") and meta["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = ns
    else:
        meta.pop("namespace", None)
    for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
              "generation", "managedFields", "selfLink"):
        meta.pop(k, None)
    if r.status_sub and not r.builtin:
        obj.pop("status", None)
    drop_empty_meta(meta)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + objects.random_suffix()
    name = meta.get("name", "")
    if not r.builtin:
        schema_mod.apply_defaults(obj, r.schema)
    if r.builtin and r.hooks:
        r.hooks.prepare_create(obj, r)
    set_managed(obj, update_managed(op, None, obj))
    if r.builtin and hasattr(r.hooks, "after_managed_create"):   # Namespace, CRD: status set outside managedFields
        r.hooks.after_managed_create(obj)
    with ctx.store.lock:
        check_namespace_for_create(ctx, r, ns, name)
    # mutating admission sees the object before uid/creationTimestamp/generation are set
    obj = admission.run(ctx, op, "CREATE", obj, None, mutating=True)
    meta = obj["metadata"]
    name = meta.get("name", "")
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = gotime.now_rfc3339()
    if r.has_generation:
        meta["generation"] = 1
    obj["metadata"] = meta
    validate_object(ctx, op, obj, None)
    admission.run(ctx, op, "CREATE", obj, None, mutating=False)
    with ctx.store.lock:
        check_namespace_for_create(ctx, r, ns, name)
        if ctx.store.get(r.storage_key, ns if r.namespaced else "", name) is not None:
            raise already_exists(r.plural, r.group, name)
        if op.dry_run:
            return 201, obj, op.warnings
        stored = ctx.store.write(r.storage_key, ns if r.namespaced else "", name, to_storage(r, obj), "ADDED")
    return 201, from_storage(r, stored), op.warnings


# --- get / list -------------------------------------------------------------------------------

def get(ctx, req, r, ns, name, sub):
    if sub and sub not in r.subresources:
        raise ApiError(404, "404 page not found")
    with ctx.store.lock:
        obj = ctx.store.get(r.storage_key, ns if r.namespaced else "", name)
    if obj is None:
        raise not_found(r.plural, r.group, name)
    return 200, from_storage(r, obj), []


def _encode_continue(rv, start):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token):
    try:
        pad = "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(token + pad)
    except Exception:
        raise bad_request("invalid continue token: continue key is not valid: illegal base64 data")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        first = raw[:1]
        ch = "\\u%04x" % first[0] if first and (first[0] < 0x20 or first[0] >= 0x7f) else first.decode("latin-1")
        raise bad_request("invalid continue token: continue key is not valid: invalid character '%s' looking for beginning of value" % ch)
    if not isinstance(data, dict) or data.get("v") != "meta.k8s.io/v1" or "start" not in data:
        raise bad_request("invalid continue token: continue key is not valid: server does not recognize this encoded version %s" % json.dumps(data.get("v") if isinstance(data, dict) else None))
    return int(data.get("rv", 0)), data["start"]


def _parse_rv(value, for_watch=False):
    if not value.isdigit():
        msg = 'strconv.ParseUint: parsing %s: invalid syntax' % json.dumps(value)
        if for_watch:
            msg = 'resourceVersion: Invalid value: %s: %s' % (json.dumps(value), msg)
        raise internal(msg)
    return int(value)


def list_selectors(req, r):
    from label_selectors import SelectorError
    try:
        lreqs = selectors.parse_label_selector(req.query_one("labelSelector"))
    except SelectorError as e:
        raise bad_request(str(e))
    freqs = selectors.parse_field_selector(req.query_one("fieldSelector"), r.field_selectors)
    return lreqs, freqs


def list_(ctx, req, r, ns):
    lreqs, freqs = list_selectors(req, r)
    rv_param = req.query_one("resourceVersion")
    match = req.query_one("resourceVersionMatch")
    if match and rv_param is None:
        raise options_invalid("ListOptions", [cause("FieldValueForbidden", "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided", "resourceVersionMatch")])
    limit = req.query_one("limit")
    limit = int(limit) if limit and limit.lstrip("-").isdigit() and int(limit) > 0 else 0
    cont = req.query_one("continue")
    key = r.storage_key
    def key_of(o):
        m = o.get("metadata") or {}
        return ("%s/%s" % (m.get("namespace", ""), m.get("name", ""))) if (ns is None and r.namespaced) else m.get("name", "")
    if rv_param is not None and rv_param != "":
        rv = _parse_rv(rv_param)
        if rv > ctx.store.rv and not cont:
            # the watch cache waits up to 3 s for a future revision, then gives up
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and rv > ctx.store.rv:
                time.sleep(0.1)
            if rv > ctx.store.rv:
                err = ApiError(504, "Timeout: Too large resource version: %d, current: %d" % (rv, ctx.store.rv), "Timeout",
                               {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                                "retryAfterSeconds": 1}, headers=[("Retry-After", "1")])
                raise err
    scope = ns if r.namespaced else None
    with ctx.store.lock:
        cur = ctx.store.rv
        start_after = None
        snap_rv = cur
        if cont:
            snap_rv, start = decode_continue(cont)
            start_after = start.rstrip("\x00")
            if snap_rv == -1:
                snap_rv = cur
            elif snap_rv < ctx.store.continue_floor:
                fresh = _encode_continue(-1, start)
                body = {"kind": "Status", "apiVersion": "v1", "metadata": {"continue": fresh}, "status": "Failure",
                        "message": "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                        "reason": "Expired", "code": 410}
                raise ApiError(410, body["message"], "Expired", status_body=body)
        elif rv_param not in (None, "", "0") and match == "Exact":
            snap_rv = int(rv_param)
            if snap_rv < ctx.store.history_start:
                raise ApiError(410, "The resourceVersion for the provided list is too old.", "Expired")
        if rv_param == "0" and not cont:
            limit = 0   # served from the watch cache, which ignores limit
        # The continue key is key_of's form; the store orders by "namespace/name" (etcd's order).
        after = None
        if start_after is not None:
            after = start_after if (ns is None and r.namespaced) else "%s/%s" % (scope or "", start_after)
        try:
            count, objs = ctx.store.range(key, scope, snap_rv, after)
        except TooOld:
            raise ApiError(410, "The resourceVersion for the provided list is too old.", "Expired")
        # Walk only as far as the page needs (one match beyond it says whether there is more).
        page, more = [], False
        for o in objs:
            o = from_storage(r, o)
            if selectors.label_matches(lreqs, (o.get("metadata") or {}).get("labels")) and \
                    selectors.field_matches(freqs, o, r.field_selectors):
                if limit and len(page) == limit:
                    more = True
                    break
                page.append(o)
    meta = {}
    if more:
        meta["continue"] = _encode_continue(snap_rv, key_of(page[-1]) + "\x00")
        if not lreqs and not freqs:
            meta["remainingItemCount"] = count - limit
    meta["resourceVersion"] = str(snap_rv)
    return r, page, meta


# --- update (PUT) ---------------------------------------------------------------------------------

def _precondition_uid(r, name, want, have, ns=""):
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": StorageError: invalid object, Code: 4, Key: /registry/%s/%s%s, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: %s, UID in object meta: %s'
                    % (r.qualified, name, (r.group + "/" + r.plural) if r.group else r.plural, (ns + "/") if ns else "", name, want, have),
                    "Conflict", {"name": name, "group": r.group, "kind": r.plural} if r.group else {"name": name, "kind": r.plural})


def update(ctx, req, r, ns, name, sub):
    if sub and sub not in r.subresources:
        raise ApiError(404, "404 page not found")
    fv = field_validation(req, "UpdateOptions")
    obj, text, may_have_dups = decode_body(req, r)
    check_kind(obj, text, r)
    if r.builtin and r.hooks:
        r.hooks.decode(obj, r)
    op = Op(req, r, ns, name, sub)
    prune_and_warn(op, obj, fv, may_have_dups=may_have_dups)
    obj = wire.normalized_copy(obj)
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    obj["metadata"] = meta
    if meta.get("name") and meta["name"] != name:
        raise bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (meta["name"], name))
    if r.namespaced and meta.get("namespace") and meta["namespace"] != ns:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    return write(ctx, op, lambda live: obj, want_rv=meta.get("resourceVersion"), want_uid=meta.get("uid"), verb="update")


def write(ctx, op, make_new, want_rv=None, want_uid=None, verb="update", is_patch=False):
    """Shared tail of PUT and PATCH: merge with the stored object, validate, admit, store."""
    r = op.r
    ns = op.ns if r.namespaced else ""
    name = op.name
    for attempt in range(5):
        with ctx.store.lock:
            live_storage = ctx.store.get(r.storage_key, ns, name)
        if live_storage is None:
            if verb == "update" and r.allow_create_on_update and not op.sub:
                return _create_on_update(ctx, op, make_new(None))
            raise not_found(r.plural, r.group, name)
        live = from_storage(r, live_storage)
        if want_rv not in (None, ""):
            rv = _parse_rv(str(want_rv))
            if str(rv) != live["metadata"].get("resourceVersion"):
                raise conflict(r.plural, r.group, name)
        elif verb == "update" and not is_patch and not r.allow_unconditional_update:
            raise ApiError(422, '%s "%s" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update' % (r.qualified, name),
                           "Invalid", {"name": name, "group": r.group, "kind": r.plural,
                                       "causes": [cause("FieldValueInvalid", "Invalid value: 0x0: must be specified for an update", "metadata.resourceVersion")]})
        if want_uid and want_uid != live["metadata"].get("uid"):
            raise _precondition_uid(r, name, want_uid, live["metadata"].get("uid"), ns)
        requested = make_new(live)
        new = _merge_for_write(op, live, requested)
        if getattr(op, "skip_managed", False):   # apply computed managedFields itself
            set_managed(new, (requested.get("metadata") or {}).get("managedFields"))
        # managedFields: the diff sees the request (minus the reset fields), like the real field manager
        managed_view = new
        if op.sub == "status":
            managed_view = copy_json(new)
            rmeta = requested.get("metadata") or {}
            for k in ("labels", "annotations", "finalizers", "ownerReferences"):
                if k in rmeta:
                    managed_view["metadata"][k] = rmeta[k]
                else:
                    managed_view["metadata"].pop(k, None)
        if not getattr(op, "skip_managed", False) and op.sub != "finalize":
            set_managed(new, update_managed(op, live, managed_view, op.sub if op.sub == "status" else ""))
        if r.has_generation:
            gen = live["metadata"].get("generation", 1)
            if objects.spec_part(new, r.status_sub) != objects.spec_part(live, r.status_sub):
                gen += 1
            new["metadata"]["generation"] = gen
        if verb == "update" and not is_patch and not op.sub and admission.has_hooks(ctx, op, "UPDATE"):
            # a PUT reaches mutating webhooks as decoded from the request: server-owned metadata not yet copied in
            view = copy_json(new)
            rmeta = requested.get("metadata") or {}
            vmeta = {k: copy_json(v) for k, v in rmeta.items() if k not in ("managedFields",)}
            vmeta["creationTimestamp"] = rmeta.get("creationTimestamp")
            vmeta["managedFields"] = new["metadata"].get("managedFields")
            for k in ("labels", "annotations", "finalizers", "ownerReferences"):
                if k in new["metadata"]:
                    vmeta[k] = copy_json(new["metadata"][k])
            view["metadata"] = {k: v for k, v in vmeta.items() if v is not None or k == "creationTimestamp"}
            mutated = admission.run(ctx, op, "UPDATE", view, live, mutating=True)
            mmeta = mutated.get("metadata") or {}
            for k in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "namespace", "name", "resourceVersion"):
                if k in new["metadata"]:
                    mmeta[k] = new["metadata"][k]
                else:
                    mmeta.pop(k, None)
            mutated["metadata"] = mmeta
            new = mutated
        else:
            new = admission.run(ctx, op, "UPDATE", new, live, mutating=True)
        if r.has_generation and objects.spec_part(new, r.status_sub) != objects.spec_part(live, r.status_sub):
            new["metadata"]["generation"] = live["metadata"].get("generation", 1) + 1
        validate_object(ctx, op, new, live)
        admission.run(ctx, op, "UPDATE", new, live, mutating=False)
        with ctx.store.lock:
            cur = ctx.store.get(r.storage_key, ns, name)
            if cur is not live_storage:
                if want_rv not in (None, ""):
                    raise conflict(r.plural, r.group, name)
                continue   # raced with another writer: retry from the new state (unconditional update)
            if objects.strip_times(new) == objects.strip_times(live):
                return 200, live, op.warnings            # no-op: same RV, no event
            if op.dry_run:
                return 200, new, op.warnings
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") and _finalizable(r):
                # last finalizer gone: one DELETED event; the response shows the pre-update resourceVersion
                new["metadata"].pop("finalizers", None)
                new["metadata"]["resourceVersion"] = live["metadata"].get("resourceVersion")
                ctx.store.delete(r.storage_key, ns, name, to_storage(r, new))
                return 200, new, op.warnings
            if op.sub == "finalize" and new["metadata"].get("deletionTimestamp") and not (new.get("spec") or {}).get("finalizers"):
                ctx.store.delete(r.storage_key, ns, name, to_storage(r, new))
                return 200, new, op.warnings
            stored = ctx.store.write(r.storage_key, ns, name, to_storage(r, new))
        return 200, from_storage(r, stored), op.warnings
    raise conflict(r.plural, r.group, name)


def _finalizable(r):
    return not (r.plural == "namespaces" and r.group == "")


def _create_on_update(ctx, op, obj):
    r = op.r
    meta = obj.setdefault("metadata", {})
    meta["name"] = op.name
    if r.namespaced:
        meta["namespace"] = op.ns
    for k in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        meta.pop(k, None)
    if r.hooks:
        r.hooks.prepare_create(obj, r)
    set_managed(obj, update_managed(op, None, obj))
    with ctx.store.lock:
        check_namespace_for_create(ctx, r, op.ns, op.name)
    obj = admission.run(ctx, op, "CREATE", obj, None, mutating=True)
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = gotime.now_rfc3339()
    if r.has_generation:
        meta["generation"] = 1
    validate_object(ctx, op, obj, None)
    admission.run(ctx, op, "CREATE", obj, None, mutating=False)
    with ctx.store.lock:
        if ctx.store.get(r.storage_key, op.ns if r.namespaced else "", op.name) is not None:
            raise conflict(r.plural, r.group, op.name)
        if op.dry_run:
            return 201, obj, op.warnings
        stored = ctx.store.write(r.storage_key, op.ns if r.namespaced else "", op.name, to_storage(r, obj), "ADDED")
    return 201, from_storage(r, stored), op.warnings


SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
               "namespace", "name", "selfLink", "resourceVersion", "managedFields")


def drop_empty_meta(meta):
    """Go's omitempty: empty labels/annotations/finalizers/ownerReferences are not stored."""
    for k in ("labels", "annotations", "finalizers", "ownerReferences"):
        if k in meta and not meta[k]:
            del meta[k]


def _merge_for_write(op, live, requested):
    """The object that will be stored: server-owned metadata from live; status or spec reset per endpoint."""
    r = op.r
    if isinstance(requested.get("metadata"), dict):
        drop_empty_meta(requested["metadata"])
    if op.sub == "status" or (op.sub == "finalize"):
        new = copy_json(live)
        if op.sub == "status":
            if "status" in requested:
                new["status"] = copy_json(requested["status"])
            else:
                new.pop("status", None)
        else:
            new["spec"] = copy_json(requested.get("spec") or {})
            if not new["spec"].get("finalizers"):
                new["spec"].pop("finalizers", None)
        return new
    new = copy_json(requested)
    rmeta = dict(new.get("metadata") or {})
    lmeta = live.get("metadata") or {}
    for k in SERVER_META:
        if k in lmeta:
            rmeta[k] = copy_json(lmeta[k])
        else:
            rmeta.pop(k, None)
    new["metadata"] = rmeta
    new["apiVersion"] = r.api_version
    new["kind"] = r.kind
    if r.status_sub and not r.builtin:
        if "status" in live:
            new["status"] = copy_json(live["status"])
        else:
            new.pop("status", None)
    if not r.builtin:
        schema_mod.apply_defaults(new, r.schema)
    if r.builtin and r.hooks:
        r.hooks.prepare_update(new, live, r)
    return new


# --- patch ---------------------------------------------------------------------------------------

def patch(ctx, req, r, ns, name, sub):
    if sub and sub not in r.subresources:
        raise ApiError(404, "404 page not found")
    ctype = req.content_type()
    force = req.query_one("force")
    is_apply = ctype == "application/apply-patch+yaml"
    allowed = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
    if r.builtin:
        allowed.append("application/strategic-merge-patch+json")
    if ctype not in allowed:
        raise unsupported_media(PATCH_MEDIA_BUILTIN if r.builtin else PATCH_MEDIA_CR)
    if is_apply and not req.query_one("fieldManager"):
        raise options_invalid("PatchOptions", [cause("FieldValueRequired", "Required value: is required for apply patch", "fieldManager")])
    if force is not None and force != "false" and not is_apply:
        raise options_invalid("PatchOptions", [cause("FieldValueForbidden", "Forbidden: may not be specified for non-apply patch", "force")])
    fv = field_validation(req, "PatchOptions")
    text = req.body.decode("utf-8", errors="replace")
    op = Op(req, r, ns, name, sub)
    if is_apply:
        return _apply(ctx, op, text, force in ("true", "1"), fv)
    try:
        body = wire.parse_json(text)
    except wire.DecodeError as e:
        raise bad_request("error decoding patch: %s" % e)
    if ctype == "application/json-patch+json":
        if not isinstance(body, list):
            raise bad_request("error decoding patch: json: cannot unmarshal %s into Go value of type []handlers.jsonPatchOp" % schema_mod.type_name(body))
        def make(live):
            if live is None:
                raise not_found(r.plural, r.group, name)
            try:
                res = patch_mod.json_patch(_wire_view(live), body)
            except (patch_mod.PatchError, TypeError, KeyError, IndexError, ValueError):
                raise ApiError(422, "the server rejected our request due to an error in our request", "Invalid", {})
            return _after_patch(op, live, res, fv, text)
        want_rv = None
        for o in body:
            if isinstance(o, dict) and o.get("path") == "/metadata/resourceVersion" and o.get("op") in ("add", "replace"):
                want_rv = o.get("value")
    else:
        if not isinstance(body, dict):
            raise bad_request("error decoding patch: json: cannot unmarshal %s into Go value of type map[string]interface {}" % schema_mod.type_name(body))
        def make(live):
            if live is None:
                raise not_found(r.plural, r.group, name)
            res = patch_mod.merge_patch(_wire_view(live), body)
            return _after_patch(op, live, res, fv, text)
        want_rv = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body.get("metadata"), dict) else None
    code, obj, warnings = write(ctx, op, make, want_rv=want_rv, verb="patch", is_patch=True)
    return code, obj, warnings


def _wire_view(live):
    return json.loads(json.dumps(live))


def _after_patch(op, live, res, fv, text):
    r = op.r
    if not isinstance(res, dict):
        raise bad_request("the object provided is unrecognized")
    res = wire.normalize_numbers(res)
    if r.builtin and r.hooks:
        r.hooks.decode(res, r)
    if not r.builtin:
        probe = copy_json(res)
        unknown = schema_mod.prune(probe, r.schema)
        if unknown and fv == "Strict":
            shown = wire.compact(wire.sort_all(res))
            msg = 'Invalid value: %s: strict decoding error: %s' % (json.dumps(shown, ensure_ascii=False), ", ".join('unknown field "%s"' % u for u in sorted(unknown)))
            raise ApiError(422, ' "" is invalid: patch: ' + msg, "Invalid", {"causes": [cause("FieldValueInvalid", msg, "patch")]})
        if unknown and fv == "Warn":
            op.warnings.extend('unknown field "%s"' % u for u in sorted(unknown))
        res = probe
    meta = res.get("metadata") if isinstance(res.get("metadata"), dict) else {}
    if meta.get("name") not in (None, op.name):
        raise bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (meta.get("name"), op.name))
    res["metadata"] = meta
    return res


def _apply(ctx, op, text, force, fv):
    r = op.r
    try:
        cfg = wire.parse_yaml(text)
    except wire.DecodeError as e:
        raise bad_request("error decoding YAML: %s" % e)
    if not isinstance(cfg, dict):
        raise bad_request("invalid object type: /, Kind=")
    if not cfg.get("apiVersion") or not cfg.get("kind"):
        gv = cfg.get("apiVersion") or ""
        raise bad_request("invalid object type: %s, Kind=%s" % (gv + "/" if "/" not in gv and gv else gv or "/", cfg.get("kind") or ""))
    if cfg.get("apiVersion") != r.api_version or cfg.get("kind") != r.kind:
        raise bad_request("the API version in the data (%s) does not match the expected API version (%s)" % (cfg.get("apiVersion"), r.api_version))
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    if meta.get("name") and meta["name"] != op.name:
        raise bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (meta["name"], op.name))
    if r.namespaced and meta.get("namespace") and meta["namespace"] != op.ns:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    if not r.builtin:
        probe = copy_json(cfg)
        unknown = schema_mod.prune(probe, r.schema)
        if unknown:
            raise internal("failed to create typed patch object (%s/%s; %s, Kind=%s): .%s: field not declared in schema"
                           % (meta.get("namespace", ""), op.name, r.api_version, r.kind, unknown[0]))
    cfg_clean = copy_json(cfg)
    cm = cfg_clean.setdefault("metadata", {})
    for k in ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"):
        cm.pop(k, None)
    if op.sub != "status" and r.status_sub and not r.builtin:
        cfg_clean.pop("status", None)
    ns = op.ns if r.namespaced else ""
    manager = op.manager
    now = gotime.now_rfc3339()
    with ctx.store.lock:
        live_storage = ctx.store.get(r.storage_key, ns, op.name)
    if live_storage is None:
        try:
            new, entries = managedfields.apply([], {"metadata": {}}, cfg_clean, r.schema, manager, r.api_version, now, force)
        except managedfields.ApplyConflict as c:
            raise _apply_conflict(c)
        new["apiVersion"] = r.api_version
        new["kind"] = r.kind
        new["metadata"]["name"] = op.name
        if r.namespaced:
            new["metadata"]["namespace"] = op.ns
        entries = [dict(e, time=now) for e in entries]
        set_managed(new, entries)
        if r.builtin and r.hooks:
            r.hooks.prepare_create(new, r)
        with ctx.store.lock:
            check_namespace_for_create(ctx, r, op.ns, op.name)
        new = admission.run(ctx, op, "CREATE", new, None, mutating=True)
        new["metadata"]["uid"] = str(uuid.uuid4())
        new["metadata"]["creationTimestamp"] = now
        if r.has_generation:
            new["metadata"]["generation"] = 1
        validate_object(ctx, op, new, None)
        admission.run(ctx, op, "CREATE", new, None, mutating=False)
        with ctx.store.lock:
            if ctx.store.get(r.storage_key, ns, op.name) is not None:
                raise conflict(r.plural, r.group, op.name)
            if op.dry_run:
                return 201, new, op.warnings
            stored = ctx.store.write(r.storage_key, ns, op.name, to_storage(r, new), "ADDED")
        return 201, from_storage(r, stored), op.warnings

    def make(live):
        if live is None:
            raise not_found(r.plural, r.group, op.name)
        base = copy_json(live)
        entries = base["metadata"].get("managedFields") or []
        try:
            new, new_entries = managedfields.apply(entries, base, cfg_clean, r.schema, manager, r.api_version, now, force)
        except managedfields.ApplyConflict as c:
            raise _apply_conflict(c)
        new["metadata"]["managedFields"] = new_entries
        return new
    op.skip_managed = True
    return write(ctx, op, make, verb="patch", is_patch=True)


def _apply_conflict(c):
    by_mgr = {}
    for mgr, path in c.conflicts:
        by_mgr.setdefault(mgr, []).append(path)
    n = len(c.conflicts)
    if n == 1:
        mgr, path = c.conflicts[0]
        text = "Apply failed with 1 conflict: conflict with %s: %s" % (mgr, path)
    else:
        lines = []
        for mgr in sorted(by_mgr):
            lines.append("conflicts with %s:" % mgr)
            lines.extend("- %s" % p for p in by_mgr[mgr])
        text = "Apply failed with %d conflicts: %s" % (n, "\n".join(lines))
    causes = [{"reason": "FieldManagerConflict", "message": "conflict with %s" % mgr, "field": path} for mgr, path in c.conflicts]
    return ApiError(409, text, "Conflict", {"causes": causes})


# --- delete -------------------------------------------------------------------------------------

def _delete_options(req):
    opts = {}
    if req.body and req.body.strip():
        try:
            opts = wire.parse_json(req.body.decode("utf-8", errors="replace"))
        except wire.DecodeError as e:
            raise bad_request("the object provided is unrecognized (must be of type DeleteOptions): couldn't get version/kind; json parse error: %s" % e)
        if not isinstance(opts, dict):
            opts = {}
    pp = req.query_one("propagationPolicy")
    if pp is not None:
        opts["propagationPolicy"] = pp
    if "All" in req.query.get("dryRun", []):
        opts["dryRun"] = ["All"]
    if opts.get("propagationPolicy") not in (None, "Foreground", "Background", "Orphan"):
        raise options_invalid("DeleteOptions", [cause("FieldValueNotSupported", 'Unsupported value: %s: supported values: "Foreground", "Background", "Orphan", "nil"' % json.dumps(opts["propagationPolicy"]), "propagationPolicy")])
    return opts


def delete(ctx, req, r, ns, name, sub):
    if sub:
        raise method_not_allowed("delete", r.plural, r.group)
    opts = _delete_options(req)
    return _delete_one(ctx, req, r, ns, name, opts)


def _delete_one(ctx, req, r, ns, name, opts):
    store = ctx.store
    nsk = ns if r.namespaced else ""
    dry = "All" in (opts.get("dryRun") or [])
    with store.lock:
        live_storage = store.get(r.storage_key, nsk, name)
    if live_storage is None:
        raise not_found(r.plural, r.group, name)
    live = from_storage(r, live_storage)
    pre = opts.get("preconditions") or {}
    lm = live["metadata"]
    if pre.get("uid") and pre["uid"] != lm.get("uid"):
        raise ApiError(409, 'Operation cannot be fulfilled on %s "%s": the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated'
                       % (r.kind_label, name, pre["uid"], lm.get("uid")), "Conflict",
                       {"name": name, "group": r.group, "kind": r.kind} if r.group else {"name": name, "kind": r.kind})
    if pre.get("resourceVersion") and pre["resourceVersion"] != lm.get("resourceVersion"):
        raise ApiError(409, 'Operation cannot be fulfilled on %s "%s": the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified'
                       % (r.kind_label, name, pre["resourceVersion"], lm.get("resourceVersion")), "Conflict",
                       {"name": name, "group": r.group, "kind": r.kind} if r.group else {"name": name, "kind": r.kind})
    op = Op(req, r, ns, name, "")
    admission.run(ctx, op, "DELETE", None, live, mutating=False)
    policy = opts.get("propagationPolicy")
    finalizers = list(lm.get("finalizers") or [])
    finalizers += [f for f in getattr(r, "delete_finalizers", ()) if f not in finalizers]   # CRDs (crds.py)
    is_ns = r.plural == "namespaces" and r.group == ""
    if policy == "Foreground" and "foregroundDeletion" not in finalizers:
        finalizers.append("foregroundDeletion")
    elif policy == "Orphan" and "orphan" not in finalizers:
        finalizers.append("orphan")
    ns_pending = is_ns and (live.get("spec") or {}).get("finalizers")
    if finalizers or ns_pending:
        if lm.get("deletionTimestamp"):
            if finalizers == list(lm.get("finalizers") or []):
                return 200, live, []
        new = copy_json(live)
        nm = new["metadata"]
        if not nm.get("deletionTimestamp"):
            nm["deletionTimestamp"] = gotime.now_rfc3339()
            if not is_ns:
                nm["deletionGracePeriodSeconds"] = 0
            if r.has_generation:
                nm["generation"] = nm.get("generation", 1) + 1
        if finalizers:
            nm["finalizers"] = finalizers
        if is_ns:
            new["status"] = dict(new.get("status") or {}, phase="Terminating")
        new["metadata"] = nm
        if dry:
            return 200, new, []
        with store.lock:
            if store.get(r.storage_key, nsk, name) is not live_storage:
                raise conflict(r.plural, r.group, name)
            stored = store.write(r.storage_key, nsk, name, to_storage(r, new))
        return 200, from_storage(r, stored), []
    final = live_storage
    if not dry:
        with store.lock:
            if store.get(r.storage_key, nsk, name) is not live_storage:
                raise conflict(r.plural, r.group, name)
            final = store.delete(r.storage_key, nsk, name)
    if getattr(r, "return_deleted", None):   # Pods, ServiceAccounts answer with the object (tokens.py)
        return 200, r.return_deleted(copy_json(from_storage(r, final))), []
    details = {"name": name}
    if r.group:
        details["group"] = r.group
    details["kind"] = r.plural
    details["uid"] = lm.get("uid")
    return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}, []


def delete_collection(ctx, req, r, ns):
    opts = _delete_options(req)
    rr, items, meta = list_(ctx, req, r, ns)
    deleted = []
    for o in items:
        try:
            code, res, _ = _delete_one(ctx, req, r, (o.get("metadata") or {}).get("namespace", ns), o["metadata"]["name"], opts)
        except ApiError as e:
            if e.code == 404:
                continue
            raise
        deleted.append(res if res.get("kind") != "Status" else o)
    with ctx.store.lock:
        meta = {"continue": "", "resourceVersion": str(ctx.store.rv)} if not r.builtin else {"resourceVersion": str(ctx.store.rv)}
    return r, deleted, meta
