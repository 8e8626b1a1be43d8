"""The `reason` of an allowed access review, worded like the RBAC authorizer (sample 22):
`RBAC: allowed by RoleBinding "name/ns" of Role "r" to User "u"` (ClusterRoleBinding: `"name"`)."""
import auth

_BUILTIN = [  # (binding = role, group, rules) for what every authenticated user gets (auth.AUTHENTICATED_*)
    ("system:basic-user", "system:authenticated", auth.AUTHENTICATED_RULES),
    ("system:discovery", "system:authenticated", auth.AUTHENTICATED_NONRESOURCE[1:]),
    ("system:public-info-viewer", "system:authenticated", auth.AUTHENTICATED_NONRESOURCE[:1]),
]


def _subject(s, binding_ns):
    kind = s.get("kind")
    if kind == "ServiceAccount":
        return 'ServiceAccount "%s/%s"' % (s.get("namespace") or binding_ns, s.get("name"))
    return '%s "%s"' % (kind, s.get("name"))


def reason(ctx, user, a):
    """The reason text for an allowed request, or None (masters, --no-rbac, not found)."""
    if user.is_master or not ctx.authz.enabled:
        return None
    store = ctx.store
    key = auth.RBAC_GROUP
    with store.lock:
        for b in store.items((key, "clusterrolebindings")):
            subj = next((s for s in b.get("subjects") or [] if auth._subject_matches(s, user, "")), None)
            if subj and any(auth.rule_allows(r, a) for r in ctx.authz._role_rules(b.get("roleRef") or {}, "")):
                return 'RBAC: allowed by ClusterRoleBinding "%s" of ClusterRole "%s" to %s' % (
                    b["metadata"]["name"], (b.get("roleRef") or {}).get("name"), _subject(subj, ""))
        if a.namespace:
            for b in store.items((key, "rolebindings"), a.namespace):
                subj = next((s for s in b.get("subjects") or [] if auth._subject_matches(s, user, a.namespace)), None)
                ref = b.get("roleRef") or {}
                if subj and any(auth.rule_allows(r, a) for r in ctx.authz._role_rules(ref, a.namespace)):
                    return 'RBAC: allowed by RoleBinding "%s/%s" of %s "%s" to %s' % (
                        b["metadata"]["name"], a.namespace, ref.get("kind"), ref.get("name"), _subject(subj, a.namespace))
    if "system:authenticated" in user.groups:
        for name, group, rules in _BUILTIN:
            if any(auth.rule_allows(r, a) for r in rules):
                return 'RBAC: allowed by ClusterRoleBinding "%s" of ClusterRole "%s" to Group "%s"' % (name, name, group)
    return None
