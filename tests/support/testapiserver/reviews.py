"""authorization.k8s.io access reviews and authentication.k8s.io SelfSubjectReview: evaluated, never stored."""

import auth
import gotime
import managedfields
from errors import ApiError, cause
from jsoncopy import copy_json


def _attrs(spec, ns_default=""):
    ra = spec.get("resourceAttributes")
    if ra:
        return auth.Attrs(ra.get("verb", ""), ra.get("group", ""), ra.get("resource", ""), ra.get("subresource", ""),
                          ra.get("name", ""), ra.get("namespace", ns_default))
    nra = spec.get("nonResourceAttributes") or {}
    return auth.Attrs(nra.get("verb", ""), path=nra.get("path", ""))


def _managed(op_manager, r, obj):
    zero = {"metadata": {}, "spec": {}}
    entries = managedfields.update([], zero, obj, r.schema, op_manager, r.api_version, gotime.now_rfc3339())
    return entries


def create_review(ctx, req, r, ns, obj):
    import api
    manager = req.query_one("fieldManager") or api.manager_from_ua(req.headers.get("User-Agent", ""))
    kind = r.kind
    spec = copy_json(obj.get("spec") or {})
    out = {"kind": kind, "apiVersion": r.api_version, "metadata": {"creationTimestamp": None}}
    if kind == "TokenReview":
        import tokens
        return tokens.token_review(ctx, req, r, obj)
    if kind == "SelfSubjectReview":
        out["metadata"] = {"creationTimestamp": gotime.now_rfc3339()}
        out["status"] = {"userInfo": req.user.info()}
        return 201, out, []
    if kind == "SelfSubjectRulesReview":
        target_ns = spec.get("namespace", "")
        rules = ctx.authz.rules_for(req.user, target_ns)
        res_rules = []
        non_res = []
        if req.user.is_master:
            res_rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
            non_res.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
        for rule in rules:
            if rule.get("nonResourceURLs"):
                non_res.append({"verbs": rule.get("verbs", []), "nonResourceURLs": rule["nonResourceURLs"]})
            else:
                rr = {"verbs": rule.get("verbs", []), "apiGroups": rule.get("apiGroups", []),
                      "resources": rule.get("resources", [])}
                if rule.get("resourceNames"):
                    rr["resourceNames"] = rule["resourceNames"]
                res_rules.append(rr)
        out["spec"] = {}
        out["status"] = {"resourceRules": res_rules, "nonResourceRules": non_res, "incomplete": False}
        return 201, out, []
    if kind == "SelfSubjectAccessReview":
        user = req.user
    else:
        if not spec.get("user") and not spec.get("groups"):
            raise ApiError(422, '.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified',
                           "Invalid", {"group": "authorization.k8s.io", "causes": [cause("FieldValueInvalid", 'Invalid value: "": at least one of user or group must be specified', "spec.user")]})
        user = auth.User(spec.get("user", ""), spec.get("uid", ""), spec.get("groups") or [])
    a = _attrs(spec, ns if kind == "LocalSubjectAccessReview" else "")
    allowed = ctx.authz.allowed(user, a)
    obj_for_managed = {"metadata": {}, "spec": spec}
    entries = _managed(manager, r, obj_for_managed)
    if entries:
        out["metadata"]["managedFields"] = entries
    out["spec"] = spec
    out["status"] = {"allowed": bool(allowed)}
    if allowed:
        import rbac_reason
        why = rbac_reason.reason(ctx, user, a)
        if why:
            out["status"]["reason"] = why
    return 201, out, []
