"""Admission webhooks configured through the API (admissionregistration.k8s.io/v1), called the way
kube-apiserver calls them: mutating first (JSONPatch responses applied), then validating on the
mutated object. namespaceSelector, objectSelector and matchConditions are NOT evaluated (every
rule-matching request is sent); reinvocationPolicy is ignored."""
import base64
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import uuid

import patch as patch_mod
import webhook_auth
import wire
from errors import ApiError

AR = "admissionregistration.k8s.io"


def _matches(rule, op, r, sub):
    ops = rule.get("operations") or []
    if "*" not in ops and op not in ops:
        return False
    if not _in(rule.get("apiGroups"), r.group) or not _in(rule.get("apiVersions"), r.version):
        return False
    res = r.plural + ("/" + sub if sub else "")
    ok = False
    for x in rule.get("resources") or []:
        if x in ("*/*", res) or (x == "*" and not sub) or (sub and x in (r.plural + "/*", "*/" + sub)):
            ok = True
    if not ok:
        return False
    scope = rule.get("scope") or "*"
    if scope == "Namespaced" and not r.namespaced:
        return False
    if scope == "Cluster" and r.namespaced:
        return False
    return True


def _in(lst, v):
    return "*" in (lst or []) or v in (lst or [])


def _hooks(ctx, mutating):
    plural = "mutatingwebhookconfigurations" if mutating else "validatingwebhookconfigurations"
    with ctx.store.lock:
        cfgs = ctx.store.items((AR, plural))
    for cfg in cfgs:
        for wh in cfg.get("webhooks") or []:
            yield wh


def _wire_object(r, obj):
    if obj is None:
        return None
    if r.builtin:
        return wire.order(obj, r.order_spec)
    return wire.sort_all(obj)


def has_hooks(ctx, op, operation, mutating=True):
    r = op.r
    if r.group == AR or r.virtual:
        return False
    sub = op.sub if op.sub == "status" else ""
    return any(any(_matches(rule, operation, r, sub) for rule in wh.get("rules") or []) for wh in _hooks(ctx, mutating))


def run(ctx, op, operation, obj, old, mutating):
    r = op.r
    if r.group == AR or r.virtual:
        return obj
    sub = op.sub if op.sub == "status" else ""
    for wh in list(_hooks(ctx, mutating)):
        if not any(_matches(rule, operation, r, sub) for rule in wh.get("rules") or []):
            continue
        obj = _call(ctx, op, wh, operation, obj, old, mutating, sub)
    return obj


def _call(ctx, op, wh, operation, obj, old, mutating, sub):
    r = op.r
    timeout = wh.get("timeoutSeconds") or 10
    cc = wh.get("clientConfig") or {}
    url = cc.get("url")
    if not url:
        svc = cc.get("service") or {}
        url = "https://%s.%s.svc:%s%s" % (svc.get("name"), svc.get("namespace"), svc.get("port", 443), svc.get("path", ""))
    full = url + ("&" if "?" in url else "?") + "timeout=%ds" % timeout
    opts_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}.get(operation, "CreateOptions")
    options = {"kind": opts_kind, "apiVersion": "meta.k8s.io/v1"}
    fm = op.req.query_one("fieldManager")
    if fm and operation != "DELETE":
        options["fieldManager"] = fm
    if op.dry_run:
        options["dryRun"] = ["All"]
    req = {"uid": str(uuid.uuid4()),
           "kind": {"group": r.group, "version": r.version, "kind": r.kind},
           "resource": {"group": r.group, "version": r.version, "resource": r.plural}}
    if sub:
        req["subResource"] = sub
    req["requestKind"] = {"group": r.group, "version": r.version, "kind": r.kind}
    req["requestResource"] = {"group": r.group, "version": r.version, "resource": r.plural}
    if sub:
        req["requestSubResource"] = sub
    name = ((obj or old or {}).get("metadata") or {}).get("name") or op.name
    if name:
        req["name"] = name
    if r.namespaced and op.ns:
        req["namespace"] = op.ns
    req["operation"] = operation
    req["userInfo"] = op.user.info()
    req["object"] = _wire_object(r, obj)
    req["oldObject"] = _wire_object(r, old)
    req["dryRun"] = bool(op.dry_run)
    req["options"] = options
    review = {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": req}
    body = wire.compact(review).encode("utf-8")
    try:
        creds = webhook_auth.credentials(getattr(ctx, "webhook_auth", None), mutating,
                                         webhook_auth.target_for(cc, urllib.parse.urlsplit(full)))
        resp = _post(full, body, cc.get("caBundle"), timeout, creds)
    except _CallError as e:
        if wh.get("failurePolicy") == "Ignore":
            return obj
        msg = 'failed calling webhook "%s": failed to call webhook: Post "%s": %s' % (wh.get("name"), full, e)
        raise ApiError(500, "Internal error occurred: " + msg, "InternalError", {"causes": [{"message": msg}]})
    response = (resp or {}).get("response") or {}
    for w in response.get("warnings") or []:
        op.warnings.append(w)
    if not response.get("allowed"):
        st = response.get("status") or {}
        code = st.get("code") or 400
        text = st.get("message") or ""
        msg = 'admission webhook "%s" denied the request%s' % (wh.get("name"), (": " + text) if text else " without explanation")
        err = ApiError(code, msg, st.get("reason") or None, st.get("details"))
        raise err
    if mutating and response.get("patch"):
        try:
            ops = json.loads(base64.b64decode(response["patch"]))
            obj = wire.normalize_numbers(patch_mod.json_patch(json.loads(json.dumps(obj)), ops))
        except Exception as e:   # a broken patch from the webhook is the webhook's failure
            msg = 'failed calling webhook "%s": %s' % (wh.get("name"), e)
            if wh.get("failurePolicy") == "Ignore":
                return obj
            raise ApiError(500, "Internal error occurred: " + msg, "InternalError", {"causes": [{"message": msg}]})
    return obj


class _CallError(Exception):
    pass


_tls_contexts = {}
_tls_lock = threading.Lock()


def _tls_context(ca_bundle, creds):
    """One client TLS context per (caBundle, client certificate files and their mtimes): making
    one loads the system trust store (~45 ms of CPU), which per call made webhook admission
    the test server's bottleneck. kube-apiserver likewise builds its webhook clients once per
    configuration. A new caBundle or a rewritten certificate file gets a new context."""
    cert = key = None
    stamp = None
    if creds and creds.cert_file:
        cert, key = creds.cert_file, creds.key_file
        try:
            stamp = (os.stat(cert).st_mtime_ns, os.stat(key).st_mtime_ns)
        except OSError:
            stamp = None
    k = (ca_bundle or "", cert, key, stamp)
    with _tls_lock:
        ctx = _tls_contexts.get(k)
    if ctx is not None:
        return ctx
    ctx = ssl.create_default_context()
    if ca_bundle:
        pem = base64.b64decode(ca_bundle).decode("ascii", errors="replace")
        ctx.load_verify_locations(cadata=pem)
    if cert:
        ctx.load_cert_chain(cert, key)
    with _tls_lock:
        if len(_tls_contexts) > 64:
            _tls_contexts.clear()
        _tls_contexts[k] = ctx
    return ctx


_idle_conns = {}   # (scheme, host, port, id(tls context)) -> idle keep-alive connections


def _take_conn(key):
    with _tls_lock:
        idle = _idle_conns.get(key)
        return idle.pop() if idle else None


def _return_conn(key, conn):
    with _tls_lock:
        idle = _idle_conns.setdefault(key, [])
        if len(idle) < 16:
            idle.append(conn)
            return
    conn.close()


def _post(url, body, ca_bundle, timeout, creds=None):
    """POSTs an AdmissionReview. Connections are kept alive and reused, as kube-apiserver's
    webhook clients do (one TLS handshake per connection, not per call); a reused connection
    the webhook has closed meanwhile is replaced by a fresh one, once."""
    import http.client
    u = urllib.parse.urlsplit(url)
    host = u.hostname
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        ctx = _tls_context(ca_bundle, creds) if u.scheme == "https" else None
        key = (u.scheme, host, port, id(ctx))
        path = u.path + ("?" + u.query if u.query else "")
        headers = {"User-Agent": "kube-apiserver-admission", "Accept": "application/json, */*",
                   "Content-Type": "application/json", "Accept-Encoding": "gzip"}
        if creds and creds.token:
            headers["Authorization"] = "Bearer " + creds.token
        for attempt in (0, 1):
            conn = _take_conn(key) if attempt == 0 else None
            reused = conn is not None
            if conn is None:
                conn = (http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx) if ctx
                        else http.client.HTTPConnection(host, port, timeout=timeout))
            elif conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request("POST", path or "/", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                    http.client.CannotSendRequest, http.client.BadStatusLine, ssl.SSLEOFError):
                conn.close()
                if reused:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            else:
                _return_conn(key, conn)
            break
    except ConnectionRefusedError:
        raise _CallError("dial tcp %s:%d: connect: connection refused" % (host, port))
    except (socket.timeout, TimeoutError):
        raise _CallError("context deadline exceeded")
    except ssl.SSLCertVerificationError:
        raise _CallError("tls: failed to verify certificate: x509: certificate signed by unknown authority")
    except (OSError, http.client.HTTPException) as e:
        raise _CallError(str(e) or e.__class__.__name__)
    if resp.getheader("Content-Encoding") == "gzip":
        import gzip
        data = gzip.decompress(data)
    if resp.status != 200:
        raise _CallError("expected response code 200, got %d" % resp.status)
    try:
        return json.loads(data)
    except ValueError as e:
        raise _CallError("failed to decode response: %s" % e)
