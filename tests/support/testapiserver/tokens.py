"""ServiceAccount tokens (sample 23): TokenRequest (POST .../serviceaccounts/NAME/token), TokenReview
(authentication.k8s.io/v1), ServiceAccount JWTs as bearer tokens, plus the minimal core/v1 Pod the
pod-binding rules need.

Tokens are RS256 JWTs signed with an RSA 2048 key made at start-up (python3-cryptography), header
{"alg": "RS256", "kid": base64url(sha256(PKIX DER of the public key))} like kube-apiserver; claims aud, exp,
iat, nbf, iss, sub and `kubernetes.io` {namespace, serviceaccount {name, uid}, pod {name, uid}, warnafter}.
Validation follows k8s.io/kubernetes pkg/serviceaccount (issuer check, signature, audiences intersection,
60 s leeway on exp/nbf, ServiceAccount and bound Pod looked up, uid compared) and the apiserver's token
cache (successes cached 10 s per token + requested audiences; failures not cached).

`POST /__test/clock {"advanceSeconds": N}` (masters only) moves this module's clock (token iat/exp, expiry
checks, cache ages) forward, so the fidelity replay need not wait for expiry or the cache.
"""
import base64
import hashlib
import json
import threading
import time
import uuid

import gotime
import wire
from hooks import Hooks
from errors import ApiError, bad_request, cause, invalid, not_found

ISSUER_DEFAULT = "https://kubernetes.default.svc.cluster.local"
LEEWAY = 60
CACHE_TTL = 10
WARN_ONLY_SECONDS = 3607
EXTENDED_SECONDS = 365 * 24 * 3600


def _b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Service:
    """Per-server token state: key, issuer, clock offset, success cache."""

    def __init__(self, issuer=ISSUER_DEFAULT):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.issuer = issuer
        self.api_audiences = [issuer]
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64(hashlib.sha256(der).digest())
        self.offset = 0.0
        self.cache = {}
        self.lock = threading.Lock()

    def now(self):
        return time.time() + self.offset

    # ---- JWT ----
    def sign(self, claims):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        header = _b64(json.dumps({"alg": "RS256", "kid": self.kid}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = (header + "." + payload).encode()
        sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return header + "." + payload + "." + _b64(sig)

    def _verify(self, token):
        """(claims, None) | (None, None) when not ours | (None, error text)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        parts = token.split(".")
        if len(parts) != 3:
            return None, None
        try:
            claims = json.loads(_unb64(parts[1]))
        except Exception:   # noqa: BLE001  not a JWT: another authenticator's token
            return None, None
        if not isinstance(claims, dict) or claims.get("iss") != self.issuer:
            return None, None
        try:
            header = json.loads(_unb64(parts[0]))
            sig = _unb64(parts[2])
        except Exception:   # noqa: BLE001
            return None, None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            return None, "square/go-jose: error in cryptographic primitive"
        try:
            self.key.public_key().verify(sig, (parts[0] + "." + parts[1]).encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return None, "square/go-jose: error in cryptographic primitive"
        return claims, None

    # ---- authentication ----
    def authenticate(self, ctx, token, audiences=None):
        """Returns (result, errors): result = {"user": auth.User, "extra": {}, "audiences": [...]} or None."""
        req_auds = list(audiences) if audiences else list(self.api_audiences)
        key = (token, tuple(req_auds))
        now = self.now()
        with self.lock:
            hit = self.cache.get(key)
            if hit and hit[0] > now:
                return hit[1], []
        res, errs = self._authenticate(ctx, token, req_auds, now)
        if res is not None:
            with self.lock:
                self.cache[key] = (now + CACHE_TTL, res)
        return res, errs

    def _authenticate(self, ctx, token, req_auds, now):
        import auth
        errs = []
        u = ctx.tokens.get(token)
        if u is not None:   # static tokens are audience-agnostic: valid for the API audiences only
            common = [a for a in self.api_audiences if a in req_auds]
            if common:
                return {"user": u, "extra": {}, "audiences": common}, []
        claims, err = self._verify(token)
        if err:
            return None, [err]
        if claims is None:
            return None, errs
        tok_auds = claims.get("aud") or []
        if isinstance(tok_auds, str):
            tok_auds = [tok_auds]
        auds = [a for a in tok_auds if a in req_auds]
        if not auds:
            return None, ["token audiences %s is invalid for the target audiences %s" % (_goq(tok_auds), _goq(req_auds))]
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if isinstance(exp, (int, float)) and now - LEEWAY > exp:
            return None, ["service account token has expired"]
        if (isinstance(nbf, (int, float)) and now + LEEWAY < nbf) or (isinstance(iat, (int, float)) and now + LEEWAY < iat):
            return None, ["service account token is invalid"]
        priv = claims.get("kubernetes.io") or {}
        ns = priv.get("namespace", "")
        saref = priv.get("serviceaccount") or {}
        podref = priv.get("pod")
        with ctx.store.lock:
            sa = ctx.store.get(("", "serviceaccounts"), ns, saref.get("name", ""))
            pod = ctx.store.get(("", "pods"), ns, podref.get("name", "")) if podref else None
        if sa is None:
            return None, ['serviceaccounts "%s" not found' % saref.get("name", "")]
        if sa["metadata"].get("uid") != saref.get("uid"):
            return None, ["service account UID (%s) does not match claim (%s)" % (sa["metadata"].get("uid"), saref.get("uid"))]
        extra = {}
        if podref:
            if pod is None:
                return None, ["service account token has been invalidated"]
            if pod["metadata"].get("uid") != podref.get("uid"):
                return None, ["pod UID (%s) does not match claim (%s)" % (pod["metadata"].get("uid"), podref.get("uid"))]
            extra = {"authentication.kubernetes.io/pod-name": [podref.get("name")],
                     "authentication.kubernetes.io/pod-uid": [podref.get("uid")]}
        user = auth.User("system:serviceaccount:%s:%s" % (ns, saref.get("name")), saref.get("uid", ""),
                         ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"])
        user.extra = extra
        return {"user": user, "extra": extra, "audiences": auds}, []


def _goq(lst):
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(json.dumps(x) for x in lst) + "]"


def service(ctx):
    svc = getattr(ctx, "sa_tokens", None)
    if svc is None:
        svc = ctx.sa_tokens = Service(getattr(ctx, "sa_issuer", None) or ISSUER_DEFAULT)
    return svc


def bearer_user(ctx, token):
    """API request authentication with a ServiceAccount JWT (API audiences only); None if not valid."""
    res, _ = service(ctx).authenticate(ctx, token)
    return res["user"] if res else None


# ---- managedFields of the never-stored request kinds ------------------------------------------

def _fields(v):
    if isinstance(v, dict):
        return {"f:" + k: _fields(v[k]) for k in sorted(v)}
    return {}


def _managed(req, spec, sub=None):
    import api
    manager = req.query_one("fieldManager") or api.manager_from_ua(req.headers.get("User-Agent", ""))
    if not spec:
        return []
    e = {"manager": manager, "operation": "Update", "apiVersion": "authentication.k8s.io/v1",
         "time": gotime.now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": _fields(spec)}}
    if sub:
        e["subresource"] = sub
    return [e]


def _body(req):
    try:
        obj = wire.parse_json(req.body.decode("utf-8", errors="replace")) if req.body.strip() else {}
    except wire.DecodeError as e:
        raise bad_request(str(e))
    return obj if isinstance(obj, dict) else {}


# ---- TokenRequest ------------------------------------------------------------------------------

TOKEN_REQUEST_ORDER = wire.typed([
    ("spec", [("audiences", None), ("expirationSeconds", None),
              ("boundObjectRef", [("kind", None), ("apiVersion", None), ("name", None), ("uid", None)])]),
    ("status", [("token", None), ("expirationTimestamp", None)])])


def token_request(ctx, req, r, ns, name):
    svc = service(ctx)
    body = _body(req)
    spec_in = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    meta_in = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    with ctx.store.lock:
        sa = ctx.store.get(("", "serviceaccounts"), ns, name)
    if sa is None:
        raise not_found("serviceaccounts", "", name)
    spec = {"audiences": list(spec_in.get("audiences") or []),
            "expirationSeconds": spec_in.get("expirationSeconds", 3600),
            "boundObjectRef": spec_in.get("boundObjectRef")}
    managed_spec = dict(spec_in)
    managed_spec.setdefault("expirationSeconds", 3600)
    managed_spec = {k: v for k, v in managed_spec.items() if v not in (None, [])}
    exp_s = spec["expirationSeconds"]
    if not isinstance(exp_s, int) or exp_s < 600:
        msg = "Invalid value: %s: may not specify a duration less than 10 minutes" % json.dumps(exp_s)
        raise invalid("TokenRequest.authentication.k8s.io", meta_in.get("name", ""), "authentication.k8s.io", "TokenRequest",
                      [cause("FieldValueInvalid", msg, "spec.expirationSeconds")])
    if exp_s > 1 << 32:
        msg = "Invalid value: %d: may not specify a duration larger than 2^32 seconds" % exp_s
        raise invalid("TokenRequest.authentication.k8s.io", meta_in.get("name", ""), "authentication.k8s.io", "TokenRequest",
                      [cause("FieldValueInvalid", msg, "spec.expirationSeconds")])
    auds = spec["audiences"] or list(svc.api_audiences)
    spec["audiences"] = auds
    pod = None
    ref = spec["boundObjectRef"]
    if isinstance(ref, dict):
        av = ref.get("apiVersion", "")
        group = av.split("/", 1)[0] if "/" in av else ""
        version = av.split("/", 1)[1] if "/" in av else av
        if group == "" and ref.get("kind") == "Pod":
            with ctx.store.lock:
                pod = ctx.store.get(("", "pods"), ns, ref.get("name", ""))
            if pod is None:
                raise not_found("pods", "", ref.get("name", ""))
            if (pod.get("spec") or {}).get("serviceAccountName") != name:
                raise bad_request('cannot bind token for serviceaccount "%s" to pod running with different serviceaccount name.' % name)
            if ref.get("uid") and ref["uid"] != pod["metadata"].get("uid"):
                raise ApiError(409, 'Operation cannot be fulfilled on Pod "%s": the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated'
                               % (ref.get("name", ""), ref["uid"]), "Conflict", {"name": ref.get("name", ""), "kind": "Pod"})
        else:
            raise bad_request("cannot bind token to object of type %s/%s, Kind=%s" % (group, version, ref.get("kind", "")))
    now = int(svc.now())
    exp = now + exp_s
    priv = {"namespace": ns}
    if pod is not None:
        priv["pod"] = {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
    priv["serviceaccount"] = {"name": name, "uid": sa["metadata"].get("uid", "")}
    if pod is not None and exp_s == WARN_ONLY_SECONDS:
        priv["warnafter"] = exp
        exp = now + EXTENDED_SECONDS
    claims = {"aud": auds, "exp": exp, "iat": now, "iss": svc.issuer, "kubernetes.io": priv, "nbf": now,
              "sub": "system:serviceaccount:%s:%s" % (ns, name)}
    token = svc.sign(claims)
    meta = {"name": name, "namespace": ns, "creationTimestamp": _ts(now)}
    mf = _managed(req, managed_spec, "token")
    if mf:
        meta["managedFields"] = mf
    out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": meta, "spec": spec,
           "status": {"token": token, "expirationTimestamp": _ts(now + exp_s)}}
    return 201, wire.order(out, TOKEN_REQUEST_ORDER)


def _ts(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# ---- TokenReview -------------------------------------------------------------------------------

TOKEN_REVIEW_SPEC = [("spec", [("token", None), ("audiences", None)]),
                     ("status", [("authenticated", None),
                                 ("user", [("username", None), ("uid", None), ("groups", None), ("extra", None)]),
                                 ("audiences", None), ("error", None)])]


def token_review(ctx, req, r, obj):
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    token = spec.get("token") or ""
    if not token:
        raise bad_request("token is required for TokenReview in authentication")
    out = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": None}}
    mf = _managed(req, spec)
    if mf:
        out["metadata"]["managedFields"] = mf
    out["spec"] = spec
    res, errs = service(ctx).authenticate(ctx, token, spec.get("audiences") or None)
    if res is not None:
        user = res["user"]
        info = {"username": user.name}
        if user.uid:
            info["uid"] = user.uid
        info["groups"] = list(user.groups)
        if res["extra"]:
            info["extra"] = res["extra"]
        out["status"] = {"authenticated": True, "user": info, "audiences": res["audiences"]}
    else:
        all_errs = ["invalid bearer token"] + errs
        out["status"] = {"user": {}, "error": all_errs[0] if len(all_errs) == 1 else "[" + ", ".join(all_errs) + "]"}
    return 201, out, []


# ---- resources ---------------------------------------------------------------------------------

class PodHooks(Hooks):
    zero = {"spec": {"containers": None}, "status": {}}

    def decode(self, obj, r):
        pass

    def prepare_create(self, obj, r):
        import workloads
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        tpl = {"metadata": {}, "spec": spec}
        workloads.default_pod_template(tpl)
        tol = spec.setdefault("tolerations", [])
        keys = {t.get("key") for t in tol if isinstance(t, dict)}
        for k in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if k not in keys:
                tol.append({"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        spec.setdefault("priority", 0)
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        res = [c.get("resources") or {} for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
               if isinstance(c, dict)]
        if all(not (x.get("requests") or x.get("limits")) for x in res):
            qos = "BestEffort"
        elif all(x.get("limits") and x.get("requests") == x.get("limits") for x in res):
            qos = "Guaranteed"
        else:
            qos = "Burstable"
        obj["status"] = {"phase": "Pending", "qosClass": qos}

    def prepare_update(self, new, old, r):
        new["status"] = old.get("status")

    def validate(self, obj, old, r):
        errs = []
        cs = (obj.get("spec") or {}).get("containers")
        if not cs:
            errs.append(cause("FieldValueRequired", "Required value", "spec.containers"))
        for i, c in enumerate(cs or []):
            if not isinstance(c, dict):
                continue
            if not c.get("name"):
                errs.append(cause("FieldValueRequired", "Required value", "spec.containers[%d].name" % i))
            if not c.get("image"):
                errs.append(cause("FieldValueRequired", "Required value", "spec.containers[%d].image" % i))
        return errs


def _pod_deleted_view(obj):
    meta = obj.setdefault("metadata", {})
    meta.setdefault("deletionTimestamp", gotime.now_rfc3339())
    meta.setdefault("deletionGracePeriodSeconds", 0)
    return obj


def extend_resources(out):
    """Adds Pod and TokenReview; gives ServiceAccount its token subresource (k8s_builtins calls this)."""
    from k8s_builtins import _r
    import workloads
    sa = next((r for r in out if r.group == "" and r.plural == "serviceaccounts"), None)
    if sa is not None:
        sa.subresources = dict(sa.subresources, token=["create"])
        sa.sub_create = {"token": token_request}
        sa.return_deleted = lambda o: o
    status = [("phase", None), ("conditions", None), ("message", None), ("reason", None), ("nominatedNodeName", None),
              ("hostIP", None), ("hostIPs", None), ("podIP", None), ("podIPs", None), ("startTime", None),
              ("initContainerStatuses", None), ("containerStatuses", None), ("qosClass", None),
              ("ephemeralContainerStatuses", None), ("resize", None), ("resourceClaimStatuses", None)]
    pod_spec = [(k, ("list", [("key", None), ("operator", None), ("value", None), ("effect", None),
                              ("tolerationSeconds", None)]) if k == "tolerations" else v) for k, v in workloads.POD_SPEC]
    pod = _r("", "v1", "pods", "Pod", True, [("spec", pod_spec), ("status", status)], PodHooks(),
             {"type": "object", "properties": {"spec": workloads.POD_SPEC_SCHEMA}}, short=["po"])
    pod.categories = ["all"]
    pod.status_sub = True
    pod.subresources = {"status": ["get", "patch", "update"]}
    pod.return_deleted = _pod_deleted_view
    if not any(r.group == "" and r.plural == "pods" for r in out):
        out.append(pod)
    tr = _r("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, TOKEN_REVIEW_SPEC, Hooks(),
            {"type": "object"})
    tr.virtual = True
    tr.verbs = ["create"]
    out.append(tr)
    return out


AUTH_DELEGATOR = {
    "kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
    "metadata": {"name": "system:auth-delegator", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                 "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
    "rules": [{"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"]},
              {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"]}]}


def bootstrap(store):
    """system:auth-delegator (caller holds store.lock)."""
    obj = json.loads(json.dumps(AUTH_DELEGATOR))
    obj["metadata"]["uid"] = str(uuid.uuid4())
    obj["metadata"]["creationTimestamp"] = gotime.now_rfc3339()
    store.write(("rbac.authorization.k8s.io", "clusterroles"), "", "system:auth-delegator", obj, "ADDED")
