"""RBAC escalation prevention, as kube-apiserver v1.28's policy-based storage for roles,
clusterroles, rolebindings and clusterrolebindings does it (pkg/registry/rbac/*/policybased and
pkg/registry/rbac/validation/rule.go). What we rely on:

- It runs on create and update (PUT, PATCH, apply) after mutating admission and before
  validation, for every user except members of system:masters.
- Role / ClusterRole: allowed when the user may `escalate` that role (verb escalate on
  roles/clusterroles, the role's name, its namespace); otherwise every rule of the new object
  must be covered by rules the user holds in that namespace (cluster-wide bindings included).
  An update that changes only ownerReferences/finalizers is not checked. A ClusterRole with an
  aggregationRule additionally needs rights covering "*" on "*.*" and every non-resource URL.
- RoleBinding / ClusterRoleBinding: allowed when the user may `bind` the referenced role
  (verb bind on roles/clusterroles, the roleRef's name, the binding's namespace); otherwise the
  referenced role must exist (else Forbidden: its NotFound message) and its rules be covered.
- Covering: each requested rule is broken into one (group, resource, verb[, name]) or (URL,
  verb) piece; a held rule covers a piece when its verbs, apiGroups and resources hold it ("*"
  anywhere, "*/sub" for subresources; unlike the authorizer, "res/*" covers nothing more), its resourceNames are empty or hold the name (a piece
  without a name needs a held rule without names), and nonResourceURLs match ("*" suffix).
- Refusal: 403 Forbidden, `<plural>.rbac.authorization.k8s.io "<name>" is forbidden: user "<u>"
  (groups=["g1" "g2"]) is attempting to grant RBAC permissions not currently held:` followed by
  the missing pieces, compacted per (group, resource, name) and sorted, one per line as
  `{APIGroups:["g"], Resources:["r"], ResourceNames:["n"], Verbs:["v1" "v2"]}`.
"""
from auth import RBAC_GROUP, Attrs
from errors import ApiError

_ROLES = {"roles": "roles", "clusterroles": "clusterroles"}
_BINDINGS = {"rolebindings": "roles", "clusterrolebindings": "clusterroles"}

_FULL_AUTHORITY = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                   {"verbs": ["*"], "nonResourceURLs": ["*"]}]


def _has(lst, v):
    return "*" in (lst or []) or v in (lst or [])


def _breakdown(rule):
    out = []
    for g in rule.get("apiGroups") or []:
        for res in rule.get("resources") or []:
            for verb in rule.get("verbs") or []:
                names = rule.get("resourceNames") or []
                if names:
                    for n in names:
                        out.append({"apiGroups": [g], "resources": [res], "verbs": [verb], "resourceNames": [n]})
                else:
                    out.append({"apiGroups": [g], "resources": [res], "verbs": [verb]})
    for url in rule.get("nonResourceURLs") or []:
        for verb in rule.get("verbs") or []:
            out.append({"nonResourceURLs": [url], "verbs": [verb]})
    return out


def _resource_covers(held, res):
    if "*" in held or res in held:
        return True
    if "/" not in res:
        return False
    return "*/" + res.split("/", 1)[1] in held


def _url_covers(held, url):
    for h in held:
        if h == "*" or h == url or (h.endswith("*") and url.startswith(h[:-1])):
            return True
    return False


def _covers(owner, piece):
    if not _has(owner.get("verbs"), piece["verbs"][0]):
        return False
    if piece.get("nonResourceURLs"):
        return _url_covers(owner.get("nonResourceURLs") or [], piece["nonResourceURLs"][0])
    if owner.get("nonResourceURLs") and not owner.get("resources"):
        return False
    if not _has(owner.get("apiGroups"), piece["apiGroups"][0]):
        return False
    if not _resource_covers(owner.get("resources") or [], piece["resources"][0]):
        return False
    held_names = owner.get("resourceNames") or []
    if not piece.get("resourceNames"):
        return not held_names
    return not held_names or piece["resourceNames"][0] in held_names


def _q(lst):
    return "[" + " ".join('"%s"' % s.replace("\\", "\\\\").replace('"', '\\"') for s in lst) + "]"


def _compact_string(rule):
    parts = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"), ("nonResourceURLs", "NonResourceURLs"),
                       ("resourceNames", "ResourceNames"), ("verbs", "Verbs")):
        if rule.get(key):
            parts.append("%s:%s" % (label, _q(rule[key])))
    return "{" + ", ".join(parts) + "}"


def _compact(missing):
    simple = {}
    order = []
    out = []
    for m in missing:
        if m.get("nonResourceURLs"):
            out.append(m)
            continue
        key = (m["apiGroups"][0], m["resources"][0], tuple(m.get("resourceNames") or []))
        if key in simple:
            simple[key]["verbs"] = simple[key]["verbs"] + m["verbs"]
        else:
            simple[key] = dict(m)
            order.append(key)
    return out + [simple[k] for k in order]


def missing_rights(held, rules):
    missing = []
    for rule in rules:
        for piece in _breakdown(rule):
            if not any(_covers(h, piece) for h in held):
                missing.append(piece)
    return missing


def _forbidden(plural, name, message):
    subject = '%s.%s "%s"' % (plural, RBAC_GROUP, name)
    return ApiError(403, "%s is forbidden: %s" % (subject, message), "Forbidden",
                    {"name": name, "group": RBAC_GROUP, "kind": plural},
                    headers=[("X-Content-Type-Options", "nosniff")])


def _confirm(ctx, user, ns, plural, name, rules):
    held = ctx.authz.rules_for(user, ns)
    missing = missing_rights(held, rules)
    if not missing:
        return
    lines = sorted(set(_compact_string(m) for m in _compact(missing)))
    raise _forbidden(plural, name, 'user "%s" (groups=%s) is attempting to grant RBAC permissions not currently held:\n%s'
                     % (user.name, _q(user.groups), "\n".join(lines)))


def _only_gc_fields(obj, old):
    if old is None:
        return False
    strip = lambda o: {k: v for k, v in o.items() if k != "metadata"}
    if strip(obj) != strip(old):
        return False
    m_new = dict(obj.get("metadata") or {})
    m_old = dict(old.get("metadata") or {})
    for k in ("ownerReferences", "finalizers", "selfLink", "managedFields"):
        m_new.pop(k, None)
        m_old.pop(k, None)
    return m_new == m_old


def check(ctx, op, obj, old):
    """Raises 403 when `op.user` would grant rights it does not hold (see the module doc)."""
    r = op.r
    if r.group != RBAC_GROUP or (r.plural not in _ROLES and r.plural not in _BINDINGS):
        return
    user = op.user
    if user.is_master or _only_gc_fields(obj, old):
        return
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    ns = meta.get("namespace") or (op.ns if r.namespaced else "")
    if r.plural in _ROLES:
        if ctx.authz.allowed(user, Attrs("escalate", RBAC_GROUP, r.plural, "", name, ns)):
            return
        _confirm(ctx, user, ns, r.plural, name, obj.get("rules") or [])
        if r.plural == "clusterroles" and obj.get("aggregationRule"):
            if missing_rights(ctx.authz.rules_for(user, ""), _FULL_AUTHORITY):
                raise _forbidden(r.plural, name, "must have cluster-admin privileges to use the aggregationRule")
        return
    ref = obj.get("roleRef") or {}
    ref_plural = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
    ref_ns = ns if ref_plural == "roles" else ""
    if ctx.authz.allowed(user, Attrs("bind", RBAC_GROUP, ref_plural, "", ref.get("name", ""), ns)):
        return
    with ctx.store.lock:
        role = ctx.store.get((RBAC_GROUP, ref_plural), ref_ns, ref.get("name", ""))
    if role is None:
        singular = "clusterrole" if ref_plural == "clusterroles" else "role"
        raise _forbidden(r.plural, name, '%s.%s "%s" not found' % (singular, RBAC_GROUP, ref.get("name", "")))
    _confirm(ctx, user, ns, r.plural, name, role.get("rules") or [])
