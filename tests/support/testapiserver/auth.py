"""Authentication (static tokens, client certificates, anonymous) and RBAC authorization."""
import csv
import fnmatch

from errors import ApiError

RBAC_GROUP = "rbac.authorization.k8s.io"


class User:
    def __init__(self, name, uid="", groups=()):
        self.name = name
        self.uid = uid
        self.groups = list(groups)

    @property
    def is_master(self):
        return "system:masters" in self.groups

    def info(self):
        d = {"username": self.name}
        if self.uid:
            d["uid"] = self.uid
        d["groups"] = list(self.groups)
        return d


ANONYMOUS = User("system:anonymous", "", ["system:unauthenticated"])


def load_tokens(path):
    tokens = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if not row or row[0].strip().startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError("token file row needs token,user,uid[,groups]: %r" % row)
            groups = [g.strip() for g in row[3].split(",") if g.strip()] if len(row) > 3 else []
            if "system:authenticated" not in groups:
                groups.append("system:authenticated")
            tokens[row[0].strip()] = User(row[1].strip(), row[2].strip(), groups)
    return tokens


def user_from_cert(cert):
    """cert: ssl.getpeercert() dict. CN -> user, O -> groups."""
    cn = None
    groups = []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                groups.append(v)
    if not cn:
        return None
    groups.append("system:authenticated")
    return User(cn, "", groups)


# --- RBAC ----------------------------------------------------------------------------------

class Attrs:
    def __init__(self, verb, group="", resource="", subresource="", name="", namespace="", path=None):
        self.verb = verb
        self.group = group
        self.resource = resource
        self.subresource = subresource
        self.name = name
        self.namespace = namespace
        self.path = path            # non-resource request when set


DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                  "/readyz", "/version", "/version/"]
PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]

# bootstrap policy every authenticated user gets (system:basic-user, system:discovery, public-info)
AUTHENTICATED_RULES = [
    {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
     "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
    {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
]
AUTHENTICATED_NONRESOURCE = [
    {"verbs": ["get"], "nonResourceURLs": list(PUBLIC_URLS)},
    {"verbs": ["get"], "nonResourceURLs": list(DISCOVERY_URLS)},
]
UNAUTHENTICATED_NONRESOURCE = [{"verbs": ["get"], "nonResourceURLs": list(PUBLIC_URLS)}]


def _has(lst, value):
    return "*" in (lst or []) or value in (lst or [])


def rule_allows(rule, a):
    if a.path is not None:
        if not _has(rule.get("verbs"), a.verb):
            return False
        for u in rule.get("nonResourceURLs") or []:
            if u == "*" or u == a.path or (u.endswith("*") and a.path.startswith(u[:-1])):
                return True
        return False
    if rule.get("nonResourceURLs") and not rule.get("resources"):
        return False
    if not _has(rule.get("verbs"), a.verb) or not _has(rule.get("apiGroups"), a.group):
        return False
    res = a.resource + ("/" + a.subresource if a.subresource else "")
    ok = False
    for r in rule.get("resources") or []:
        if r == "*" or r == res:
            ok = True
        elif a.subresource and (r == "*/" + a.subresource or r == a.resource + "/*"):
            ok = True
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    if names:
        return bool(a.name) and a.name in names
    return True


def _subject_matches(subj, user, binding_ns):
    kind = subj.get("kind")
    if kind == "User":
        return subj.get("name") == user.name
    if kind == "Group":
        return subj.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = subj.get("namespace") or binding_ns
        return user.name == "system:serviceaccount:%s:%s" % (ns, subj.get("name"))
    return False


class Authorizer:
    def __init__(self, store, enabled=True):
        self.store = store
        self.enabled = enabled

    def _role_rules(self, ref, ns):
        kind = ref.get("kind")
        if kind == "ClusterRole":
            role = self.store.get((RBAC_GROUP, "clusterroles"), "", ref.get("name"))
        elif kind == "Role":
            role = self.store.get((RBAC_GROUP, "roles"), ns, ref.get("name"))
        else:
            role = None
        return (role or {}).get("rules") or []

    def rules_for(self, user, namespace):
        """All rules that apply to user in namespace (cluster-wide ones included)."""
        rules = []
        if "system:authenticated" in user.groups:
            rules += AUTHENTICATED_RULES + AUTHENTICATED_NONRESOURCE
        else:
            rules += UNAUTHENTICATED_NONRESOURCE
        with self.store.lock:
            for b in self.store.items((RBAC_GROUP, "clusterrolebindings")):
                if any(_subject_matches(s, user, "") for s in b.get("subjects") or []):
                    rules += self._role_rules(b.get("roleRef") or {}, "")
            if namespace:
                for b in self.store.items((RBAC_GROUP, "rolebindings"), namespace):
                    if any(_subject_matches(s, user, namespace) for s in b.get("subjects") or []):
                        rules += self._role_rules(b.get("roleRef") or {}, namespace)
        return rules

    def allowed(self, user, a):
        if user.is_master:
            return True
        if not self.enabled and user is not ANONYMOUS:
            return True
        return any(rule_allows(r, a) for r in self.rules_for(user, a.namespace))


def forbidden(user, a):
    if a.path is not None:
        return ApiError(403, 'forbidden: User "%s" cannot %s path "%s"' % (user.name, a.verb, a.path), "Forbidden",
                        {}, headers=[("X-Content-Type-Options", "nosniff")])
    qual = a.resource + "." + a.group if a.group else a.resource
    res = a.resource + ("/" + a.subresource if a.subresource else "")
    subject = '%s "%s"' % (qual, a.name) if a.name else qual
    where = 'in the namespace "%s"' % a.namespace if a.namespace else "at the cluster scope"
    msg = '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s' % (
        subject, user.name, a.verb, res, a.group, where)
    details = {}
    if a.name:
        details["name"] = a.name
    if a.group:
        details["group"] = a.group
    details["kind"] = a.resource
    return ApiError(403, msg, "Forbidden", details, headers=[("X-Content-Type-Options", "nosniff")])


def match_pattern(pattern, value):
    return fnmatch.fnmatchcase(value, pattern)
