"""HTTP layer: parsing, authentication, routing, content negotiation and the wire details
(headers, chunking, pretty printing) of kube-apiserver responses.

Every exception is caught at the handler boundary and answered as a Status; the server never
sends a Python traceback and never dies because of one request.
"""
import json
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler

import api
import auth
import discovery
import faults as faults_mod
import fastheaders
import gotime
import label_selectors as selectors
import table
import watch as watch_mod
import wire
from errors import ApiError, bad_request, internal, not_acceptable, unauthorized
from store import TooOld

fastheaders.install()

CHUNK_THRESHOLD = 2048   # Go's net/http sends Content-Length below this, chunked above
# The UIDs of the flow schema and priority level that classified a request (fixed here).
APF_FLOWSCHEMA_UID = "6f3a2c1e-8d0b-4b7e-9a51-0c2f8e7d4a10"
APF_PRIORITYLEVEL_UID = "b2e94d67-1c53-4f08-8e2a-7d61a9c3f5b2"


class Req:
    def __init__(self, method, raw_path, headers, body):
        self.method = method
        u = urllib.parse.urlsplit(raw_path)
        self.path = urllib.parse.unquote(u.path)
        self.raw_path = raw_path
        self.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.user = None

    def query_one(self, k):
        v = self.query.get(k)
        return v[0] if v else None

    def content_type(self):
        ct = self.headers.get("Content-Type") or ""
        return ct.split(";", 1)[0].strip().lower()


def _accept(req):
    """Returns (format, detail): format in json|yaml|table|pom; raises 406 if nothing fits."""
    accept = req.headers.get("Accept")
    if not accept or not accept.strip():
        return "json", None
    for part in accept.split(","):
        bits = [b.strip() for b in part.split(";")]
        mt = bits[0].lower()
        params = {}
        for b in bits[1:]:
            if "=" in b:
                k, v = b.split("=", 1)
                params[k.strip()] = v.strip()
        if mt in ("application/json", "*/*", "application/*"):
            as_ = params.get("as")
            if not as_:
                return "json", None
            if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                if as_ == "Table":
                    return "table", params.get("v")
                if as_ in ("PartialObjectMetadataList", "PartialObjectMetadata"):
                    return "pom", params.get("v")
            if as_ == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io":
                return "aggregated", params.get("v")
            continue
        if mt in ("application/yaml",):
            return "yaml", None
    raise not_acceptable()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "keygate-test-apiserver"
    sys_version = ""
    MessageClass = fastheaders.Headers

    def setup(self):
        conn = self.request
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if isinstance(conn, ssl.SSLSocket):
            conn.settimeout(30)
            try:
                conn.do_handshake()
            except (ssl.SSLError, OSError):
                self._broken = True
        conn.settimeout(None)
        super().setup()

    def handle(self):
        if getattr(self, "_broken", False):
            return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass

    def log_message(self, fmt, *args):
        if self.server.ctx.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    # ---- request plumbing ----
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if te == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    # ---- responses ----
    def _head_bytes(self, code, headers):
        reason = self.responses.get(code, ("",))[0]
        lines = ["HTTP/1.1 %d %s" % (code, reason)]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if self.server.ctx.apf:
            # API Priority and Fairness classified the request (every request, exempt ones too);
            # clients such as client-go's flowcontrol.IsEnabled look for these headers.
            lines.append("X-Kubernetes-Pf-Flowschema-Uid: " + APF_FLOWSCHEMA_UID)
            lines.append("X-Kubernetes-Pf-Prioritylevel-Uid: " + APF_PRIORITYLEVEL_UID)
        lines.append("Date: " + self.date_time_string())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")

    def _write_head(self, code, headers):
        self.wfile.write(self._head_bytes(code, headers))

    def _send(self, code, body, ctype="application/json", extra=(), force_chunked=False, cache="no-cache, private"):
        if self._drop_response:   # fault injection (dropAfter): processed, but the answer is lost
            self._code = code
            return self._abort_connection()
        headers = [("Cache-Control", cache), ("Content-Type", ctype)]
        headers += list(extra)
        if self.command == "HEAD":
            body = b""
        if len(body) > CHUNK_THRESHOLD or force_chunked:
            headers.append(("Transfer-Encoding", "chunked"))
            data = self._head_bytes(code, headers)
            if body:
                data += b"%x\r\n" % len(body) + body + b"\r\n"
            self.wfile.write(data + b"0\r\n\r\n")
        else:
            headers.append(("Content-Length", str(len(body))))
            # one write: separate small writes hit Nagle + delayed ACK (40 ms per request)
            self.wfile.write(self._head_bytes(code, headers) + body)
        self.wfile.flush()
        self._code = code

    def _send_obj(self, code, obj, fmt="json", extra=()):
        if fmt == "yaml":
            self._send(code, wire.encode_yaml(obj), "application/yaml", extra)
        else:
            self._send(code, wire.encode_json(obj, self._pretty), "application/json", extra)

    def _send_error(self, err):
        extra = list(err.headers)
        if err.code == 404 and err.message == "404 page not found":
            return self._send_text404()
        st = wire.order(err.status(), wire.STATUS)
        if err.code == 406 and "protobuf" in (self.headers.get("Accept") or ""):
            # custom resources have no protobuf encoding, but the 406 Status itself is protobuf (20)
            return self._send(406, wire.status_protobuf(st), "application/vnd.kubernetes.protobuf", extra)
        self._send_obj(err.code, st, "json", extra)

    def _send_text404(self):
        self._send(404, b"404 page not found\n", "text/plain; charset=utf-8", [("X-Content-Type-Options", "nosniff")])

    # ---- main entry ----
    def _dispatch(self, method):
        ctx = self.server.ctx
        self._code = 0
        self._fault = None
        self._drop_response = False
        self._drop_watch_at = None
        self._force_expired = False
        self._verb = method.lower()
        self._pretty = False
        req = None
        try:
            body = self._read_body()
            req = Req(method, self.path, self.headers, body)
            ua = self.headers.get("User-Agent") or ""
            self._pretty = ua.startswith("curl") or ua.startswith("Wget") or req.query_one("pretty") in ("true", "1")
            req.user = self._authenticate(ctx, req)
            self._route(ctx, req)
        except ApiError as e:
            self._safe_send_error(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001  the boundary: log, answer 500, keep serving
            sys.stderr.write("testapiserver: internal error on %s %s: %s\n%s" % (method, self.path, e, traceback.format_exc()))
            self._safe_send_error(internal("Internal error occurred: %s" % e, "InternalError"))
        finally:
            if req is not None and not req.path.startswith("/__test/"):
                ctx.log_request(req.user.name if req.user else "", self._verb, req.path, self._code,
                                req.headers.get("User-Agent") or "", self._fault)

    def _safe_send_error(self, e):
        try:
            self._send_error(e)
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def _authenticate(self, ctx, req):
        authz = req.headers.get("Authorization")
        if authz:
            parts = authz.split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "bearer":
                u = ctx.tokens.get(parts[1].strip())
                if u is not None:
                    return u
                import tokens   # ServiceAccount JWTs (API audiences only)
                u = tokens.bearer_user(ctx, parts[1].strip())
                if u is not None:
                    return u
            self._verb = req.method.lower()
            raise unauthorized()
        if isinstance(self.request, ssl.SSLSocket):
            try:
                cert = self.request.getpeercert()
            except (ValueError, ssl.SSLError):
                cert = None
            if cert:
                u = auth.user_from_cert(cert)
                if u:
                    return u
        return auth.ANONYMOUS

    # ---- routing ----
    def _route(self, ctx, req):
        path = req.path
        if path.startswith("/__test/"):
            return self._control(ctx, req)
        if path.rstrip("/") in ("/healthz", "/livez", "/readyz", "/version", "/api", "/apis") or \
                path.startswith(("/healthz/", "/livez/", "/readyz/", "/openapi")) or \
                (path.startswith("/apis/") and len([p for p in path.split("/") if p]) <= 3) or path == "/api/v1":
            return self._nonresource(ctx, req)
        parsed = self._parse_resource_path(ctx, path)
        if parsed is None and path.startswith("/apis/apiextensions.k8s.io/") and not path.startswith("/apis/apiextensions.k8s.io/v1/"):
            raise ApiError(404, "the server could not find the requested resource", "NotFound", {})   # v1beta1 (21 E17)
        if parsed is None:
            if path.startswith("/apis/") or path.startswith("/api/"):
                # authenticated but unroutable -> text 404 (after authz of the non-resource path)
                pass
            raise ApiError(404, "404 page not found")
        r, ns, name, sub, cluster_list = parsed
        verb = self._k8s_verb(req, name)
        self._verb = verb
        if verb is None:
            raise ApiError(405, "405 method not allowed")
        a = auth.Attrs(verb, r.group, r.plural, sub or "", name or "", ns or "")
        if not ctx.authz.allowed(req.user, a):
            raise auth.forbidden(req.user, a)
        ctx.faults.before(path, verb)
        if ctx.faults.random is not None and self._random_fault(ctx, req, r, name, verb):
            return
        if verb in ("update", "patch") and ctx.faults.conflicts and self._carries_rv(req):
            if ctx.faults.take_conflict():
                from errors import conflict
                raise conflict(r.plural, r.group, name)
        if req.query_one("watch") in ("1", "true") or verb == "watch":
            return self._watch(ctx, req, r, ns)
        if verb == "list":
            return self._list(ctx, req, r, ns)
        if verb == "get":
            fmt, _ = _accept(req)
            code, obj, warnings = api.get(ctx, req, r, ns, name, sub)
            return self._respond_obj(req, r, code, obj, warnings, fmt)
        if req.headers.get("Content-Type", "").lower().startswith("application/vnd.kubernetes.protobuf"):
            raise api.unsupported_media(api.BODY_MEDIA)
        if verb == "create" and sub and sub in getattr(r, "sub_create", {}):
            _accept(req)
            code, obj = r.sub_create[sub](ctx, req, r, ns, name)   # serviceaccounts/token (tokens.py)
            return self._send_obj(code, obj)
        if verb == "create":
            if sub:
                from errors import method_not_allowed
                raise method_not_allowed("create", r.plural, r.group)
            fmt, _ = _accept(req)
            code, obj, warnings = api.create(ctx, req, r, ns, name, sub)
        elif verb == "update":
            fmt, _ = _accept(req)
            code, obj, warnings = api.update(ctx, req, r, ns, name, sub)
        elif verb == "patch":
            fmt, _ = _accept(req)
            code, obj, warnings = api.patch(ctx, req, r, ns, name, sub)
        elif verb == "delete":
            fmt, _ = _accept(req)
            code, obj, warnings = api.delete(ctx, req, r, ns, name, sub)
            if obj.get("kind") == "Status":
                return self._send_obj(code, wire.order(obj, wire.STATUS), fmt)
        elif verb == "deletecollection":
            fmt, _ = _accept(req)
            rr, items, meta = api.delete_collection(ctx, req, r, ns)
            return self._send_list(req, r, items, meta, fmt, None)
        else:
            raise ApiError(405, "405 method not allowed")
        return self._respond_obj(req, r, code, obj, warnings, fmt)

    def _random_fault(self, ctx, req, r, name, verb):
        """Applies a random fault (faults.py); True when the request is answered (or dropped) here."""
        is_watch = req.query_one("watch") in ("1", "true") or verb == "watch"
        rv = req.query_one("resourceVersion")
        kind, spec = ctx.faults.pick_random(req.user.name if req.user else "", "watch" if is_watch else verb,
                                            verb in ("update", "patch") and self._carries_rv(req),
                                            is_watch and rv not in (None, "", "0"))
        if kind is None:
            return False
        self._fault = kind
        if kind == "delay":
            time.sleep(spec["delayMs"] / 1000.0)
        elif kind in ("429", "500"):
            raise faults_mod.status_error(int(kind), spec["retryAfter"] if kind == "429" else None)
        elif kind == "409":
            from errors import conflict
            raise conflict(r.plural, r.group, name)
        elif kind == "410":
            self._force_expired = True
        elif kind == "dropAfter":
            self._drop_response = True
        elif kind == "drop" and is_watch:
            self._drop_watch_at = time.monotonic() + spec["dropAfterSeconds"]
        elif kind == "drop":
            self._abort_connection()
            return True
        return False

    def _abort_connection(self):
        """Closes the connection without an answer (a dropped connection, as the client sees it)."""
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _carries_rv(req):
        try:
            b = json.loads(req.body or b"{}")
        except ValueError:
            return False
        return isinstance(b, dict) and isinstance(b.get("metadata"), dict) and bool(b["metadata"].get("resourceVersion"))

    def _k8s_verb(self, req, name):
        m = req.method
        if m in ("GET", "HEAD"):
            if req.query_one("watch") in ("1", "true"):
                return "watch"
            return "get" if name else "list"
        if m == "POST":
            return "create"
        if m == "PUT":
            return "update"
        if m == "PATCH":
            return "patch"
        if m == "DELETE":
            return "delete" if name else "deletecollection"
        return None

    def _parse_resource_path(self, ctx, path):
        parts = [p for p in path.split("/") if p]
        if not parts:
            return None
        if parts[0] == "api":
            if len(parts) < 3 or parts[1] != "v1":
                return None
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis":
            if len(parts) < 4:
                return None
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        reg = ctx.registry
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            r = reg.get(group, version, rest[2])
            if r is not None and r.namespaced:
                ns = rest[1]
                rest = rest[2:]
            elif group == "" and len(rest) == 3 and rest[2] in ("status", "finalize"):
                r = reg.get("", "v1", "namespaces")
                return (r, None, rest[1], rest[2], False)
            else:
                return None
        r = reg.get(group, version, rest[0])
        if r is None:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            return None
        if r.namespaced and ns is None and name is not None:
            return None
        if sub and sub not in r.subresources:
            return None
        return (r, ns, name, sub, ns is None and r.namespaced)

    # ---- non-resource endpoints ----
    def _nonresource(self, ctx, req):
        path = req.path
        a = auth.Attrs(req.method.lower() if req.method != "HEAD" else "get", path=path)
        if req.method in ("GET", "HEAD"):
            a.verb = "get"
        if not ctx.authz.allowed(req.user, a):
            raise auth.forbidden(req.user, a)
        p = path.rstrip("/") or "/"
        if p in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return self._send(200, b"ok", "text/plain; charset=utf-8", [("X-Content-Type-Options", "nosniff")])
        if p == "/version":
            return self._send_obj(200, discovery.version_info())
        if p == "/api":
            return self._send_obj(200, discovery.api_versions(ctx.address))
        if p == "/api/v1":
            return self._send_obj(200, discovery.resource_list(ctx.registry, "", "v1"))
        if p == "/apis":
            fmt, _ = _accept(req)
            if fmt == "aggregated":
                body = wire.encode_json(discovery.aggregated(ctx.registry), self._pretty)
                import hashlib
                etag = '"%s"' % hashlib.sha512(body).hexdigest().upper()
                return self._send(200, body, "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
                                  [("Etag", etag), ("Vary", "Accept")], cache="public")
            return self._send_obj(200, discovery.group_list(ctx.registry))
        parts = [x for x in p.split("/") if x]
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in ctx.registry.groups:
            return self._send_obj(200, discovery.api_group(ctx.registry, parts[1]))
        if parts[0] == "apis" and len(parts) == 3 and parts[2] in ctx.registry.versions_of(parts[1]):
            return self._send_obj(200, discovery.resource_list(ctx.registry, parts[1], parts[2]))
        if parts[0] == "openapi":
            import openapi_docs
            doc = openapi_docs.lookup(ctx.registry, p)
            if doc and doc[0] == "v2":
                return self._send(200, doc[1], openapi_docs.V2_PROTOBUF, [])
            if doc:
                return self._send_obj(200, doc[1])
        raise ApiError(404, "404 page not found")

    # ---- object responses ----
    def _wire(self, r, obj):
        if obj.get("kind") == "Status":
            return wire.order(obj, wire.STATUS)
        if r.builtin:
            return wire.order(obj, r.order_spec)
        return wire.Sorted(obj)

    def _encoded(self, r, obj):
        """A custom resource's JSON as encoded when it was stored (ctx.list_items); None for
        built-in types and Status objects, which _wire orders."""
        if r.builtin or obj.get("kind") == "Status":
            return None
        return self.server.ctx.list_items.item(obj, keep=False)

    def _watch_line(self, r, typ, obj):
        encoded = self._encoded(r, obj)
        if encoded is not None:
            return wire.watch_event_line(typ, encoded)
        return (wire.watch_event(typ, self._wire(r, obj)) + "\n").encode()

    def _respond_obj(self, req, r, code, obj, warnings, fmt):
        extra = [("Warning", '299 - %s' % json.dumps(w, ensure_ascii=False)) for w in warnings]
        if fmt == "table":
            return self._send_obj(code, table.table(r, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                                    req.query_one("includeObject")), "json", extra)
        if fmt == "pom":
            return self._send_obj(code, table.partial(obj), "json", extra)
        encoded = self._encoded(r, obj) if fmt == "json" and not self._pretty else None
        if encoded is not None:
            return self._send(code, encoded + b"\n", "application/json", extra)
        self._send_obj(code, self._wire(r, obj), fmt, extra)

    def _list(self, ctx, req, r, ns):
        fmt, _ = _accept(req)
        rr, items, meta = api.list_(ctx, req, r, ns)
        return self._send_list(req, r, items, meta, fmt, req.query_one("includeObject"))

    def _send_list(self, req, r, items, meta, fmt, include):
        if fmt == "table":
            m = {"resourceVersion": meta["resourceVersion"]}
            if meta.get("continue"):
                m["continue"] = meta["continue"]
            if meta.get("remainingItemCount") is not None:
                m["remainingItemCount"] = meta["remainingItemCount"]
            return self._send_obj(200, table.table(r, items, m, include))
        if fmt == "pom":
            return self._send_obj(200, table.partial_list(items, meta))
        if r.builtin:
            lm = {"resourceVersion": meta["resourceVersion"]}
            if meta.get("continue"):
                lm["continue"] = meta["continue"]
            if meta.get("remainingItemCount") is not None:
                lm["remainingItemCount"] = meta["remainingItemCount"]
            body = {"kind": r.list_kind, "apiVersion": r.api_version, "metadata": lm,
                    "items": [wire.order({k: v for k, v in o.items() if k not in ("kind", "apiVersion")}, r.order_spec[2:])
                              for o in items]}
        else:
            lm = {"continue": meta.get("continue", "")}
            if meta.get("remainingItemCount") is not None:
                lm["remainingItemCount"] = meta["remainingItemCount"]
            lm["resourceVersion"] = meta["resourceVersion"]
            if fmt == "json" and not self._pretty:
                return self._send(200, wire.encode_sorted_list(r.api_version, r.list_kind, items, lm,
                                                               self.server.ctx.list_items), "application/json")
            body = wire.Sorted({"apiVersion": r.api_version, "items": items, "kind": r.list_kind, "metadata": lm})
        self._send_obj(200, body, fmt)

    # ---- watch ----
    def _watch(self, ctx, req, r, ns):
        if req.query_one("sendInitialEvents") is not None:
            raise api.options_invalid("ListOptions", [{"reason": "FieldValueForbidden", "message": "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled", "field": "sendInitialEvents"}])
        lreqs, freqs = api.list_selectors(req, r)
        rv_param = req.query_one("resourceVersion")
        timeout = req.query_one("timeoutSeconds")
        deadline = None
        if timeout not in (None, ""):
            try:
                t = int(timeout)
            except ValueError:
                raise bad_request("invalid timeoutSeconds")
            if t < 0:
                deadline = time.monotonic()   # already expired: 200 + empty chunked body (as recorded in 10b)
            elif t > 0:
                deadline = time.monotonic() + t
        else:
            deadline = time.monotonic() + ctx.min_request_timeout
        bookmarks = req.query_one("allowWatchBookmarks") in ("true", "1")
        if rv_param not in (None, "", "0"):
            start_rv = api._parse_rv(rv_param, for_watch=True)
        else:
            start_rv = None
        w = watch_mod.Watcher(r, ns if r.namespaced else None, lreqs, freqs, 0, lambda o: api.from_storage(r, o))
        initial = []
        too_old = None
        with ctx.store.lock:
            if start_rv is None:
                for o in ctx.store.items(r.storage_key, ns if r.namespaced else None):
                    conv = api.from_storage(r, o)
                    if w._matches(conv):
                        initial.append(("ADDED", conv))
                w.start_rv = ctx.store.rv
            else:
                w.start_rv = start_rv
                try:
                    for ev in ctx.store.events_after(start_rv):
                        w.offer(ev)
                except TooOld:
                    too_old = ctx.store.history_start
                if self._force_expired:   # fault injection (410): as if start_rv had left the watch cache
                    too_old = max(start_rv + 1, ctx.store.history_start)
            if too_old is None:
                ctx.store.watchers.add(w)
        try:
            self._watch_stream(ctx, req, r, w, initial, too_old, start_rv, deadline, bookmarks)
        finally:
            with ctx.store.lock:
                ctx.store.watchers.discard(w)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def _watch_stream(self, ctx, req, r, w, initial, too_old, start_rv, deadline, bookmarks):
        self._code = 200
        self._write_head(200, [("Cache-Control", "no-cache, private"), ("Content-Type", "application/json"),
                               ("Transfer-Encoding", "chunked")])
        self.wfile.flush()
        if too_old is not None:
            st = wire.order({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                             "message": "too old resource version: %d (%d)" % (start_rv, too_old), "reason": "Expired",
                             "code": 410}, wire.STATUS)
            self._chunk((wire.compact({"type": "ERROR", "object": st}) + "\n").encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        for typ, obj in initial:
            self._chunk(self._watch_line(r, typ, obj))
        clock = watch_mod.BookmarkClock(ctx.bookmark_interval, deadline) if bookmarks else None
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            wait = 1.0
            if deadline is not None:
                wait = min(wait, deadline - now)
            if self._drop_watch_at is not None:   # fault injection (drop): cut mid-stream
                if now >= self._drop_watch_at:
                    return self._abort_connection()
                wait = min(wait, self._drop_watch_at - now)
            if clock is not None:
                wait = min(wait, max(0.0, clock.next - now))
            try:
                ev = w.queue.get(timeout=max(0.01, wait))
            except Exception:
                ev = None
            if ev is watch_mod.CLOSE:
                if w.abrupt:
                    # fault injection: drop the connection mid-stream without the final chunk
                    self.close_connection = True
                    try:
                        self.request.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                break
            if ev is not None:
                out = w.translate(ev)
                if out is not None:
                    typ, obj = out
                    self._chunk(self._watch_line(r, typ, obj))
            if clock is not None and clock.due(time.monotonic()):
                last = w.last_rv
                if last > (w.start_rv or 0):
                    self._chunk((wire.compact({"type": "BOOKMARK", "object": self._bookmark_obj(r, last)}) + "\n").encode())
                clock.sent(time.monotonic())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    @staticmethod
    def _bookmark_obj(r, rv):
        if r.builtin:
            obj = {"kind": r.kind, "apiVersion": r.api_version,
                   "metadata": {"resourceVersion": str(rv), "creationTimestamp": None}}
            for k, v in (r.hooks.zero if r.hooks else {}).items():
                obj[k] = v
            return obj
        return {"apiVersion": r.api_version, "kind": r.kind, "metadata": {"resourceVersion": str(rv)}}

    # ---- test control endpoints ----
    def _control(self, ctx, req):
        if not req.user.is_master:
            a = auth.Attrs(req.method.lower(), path=req.path)
            raise auth.forbidden(req.user, a)
        p = req.path.rstrip("/")
        if p == "/__test/faults":
            if req.method == "DELETE":
                ctx.faults.clear()
                return self._send_obj(200, {"cleared": True})
            if req.method == "POST":
                spec = json.loads(req.body or b"{}")
                if spec.get("dropWatches"):
                    with ctx.store.lock:
                        ws = list(ctx.store.watchers)
                    for w in ws:
                        w.close(abrupt=True)
                if "random" in spec:
                    try:
                        ctx.faults.set_random(spec["random"])
                    except (ValueError, TypeError) as e:
                        raise bad_request(str(e))
                ctx.faults.add(spec)
                return self._send_obj(200, {"accepted": spec})
            if req.method == "GET":
                return self._send_obj(200, ctx.faults.counts())
        if p == "/__test/apf" and req.method == "POST":
            ctx.apf = bool(json.loads(req.body or b"{}").get("enabled", True))
            return self._send_obj(200, {"enabled": ctx.apf})
        if p == "/__test/compact" and req.method == "POST":
            with ctx.store.lock:
                ctx.store.compact()
                rv = ctx.store.rv
            return self._send_obj(200, {"compactedRevision": rv})
        if p == "/__test/requests" and req.method == "GET":
            with ctx.req_lock:
                log = list(ctx.requests)
            return self._send_obj(200, log)
        if p == "/__test/requests" and req.method == "DELETE":
            with ctx.req_lock:
                ctx.requests.clear()
            return self._send_obj(200, {"cleared": True})
        if p == "/__test/clock" and req.method == "POST":
            import tokens   # moves the token clock (iat/exp, expiry, token cache) forward
            svc = tokens.service(ctx)
            svc.offset += float(json.loads(req.body or b"{}").get("advanceSeconds", 0))
            return self._send_obj(200, {"offsetSeconds": svc.offset})
        if p == "/__test/storage" and req.method == "POST":
            return self._storage_bulk(ctx, req)
        if p.startswith("/__test/storage/") and req.method in ("PUT", "DELETE"):
            return self._storage_write(ctx, req, p[len("/__test/storage"):])
        raise ApiError(404, "404 page not found")

    def _storage_write(self, ctx, req, api_path):
        if req.method == "DELETE":
            parsed = self._parse_resource_path(ctx, api_path)
            if parsed is None or parsed[2] is None:
                raise bad_request("not an object path: %s" % api_path)
            r, ns, name, sub, _ = parsed
            nsk = ns if r.namespaced else ""
            with ctx.store.lock:
                if ctx.store.get(r.storage_key, nsk, name) is None:
                    from errors import not_found
                    raise not_found(r.plural, r.group, name)
                ctx.store.delete(r.storage_key, nsk, name)
            return self._send_obj(200, {"deleted": name})
        with ctx.store.lock:
            r, created, stored = self._storage_put(ctx, api_path, json.loads(req.body))
        return self._send_obj(201 if created else 200, self._wire(r, api.from_storage(r, stored)))

    def _storage_bulk(self, ctx, req):
        """POST /__test/storage {"items": [{"path": ..., "object": ...}]}: many objects written
        straight to storage in one request (benchmarks seed 100k objects this way), as
        etcd would hold them; admission and validation do not run."""
        body = json.loads(req.body or b"{}")
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise bad_request("items: must be a list of {path, object}")
        # All or nothing: every item is checked before the first is written.
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("object"), dict):
                raise bad_request("items[%d]: must be {\"path\": ..., \"object\": {...}}" % i)
            parsed = self._parse_resource_path(ctx, item.get("path") or "")
            if parsed is None or parsed[2] is None:
                raise bad_request("items[%d].path: not an object path: %s" % (i, item.get("path")))
        written = 0
        with ctx.store.lock:
            for item in items:
                self._storage_put(ctx, item["path"], item["object"])
                written += 1
            rv = ctx.store.rv
        return self._send_obj(200, {"written": written, "resourceVersion": str(rv)})

    def _storage_put(self, ctx, api_path, obj):
        # Caller holds ctx.store.lock.
        parsed = self._parse_resource_path(ctx, api_path)
        if parsed is None or parsed[2] is None:
            raise bad_request("not an object path: %s" % api_path)
        r, ns, name, sub, _ = parsed
        nsk = ns if r.namespaced else ""
        live = ctx.store.get(r.storage_key, nsk, name)
        obj = wire.normalize_numbers(obj)
        meta = obj.setdefault("metadata", {})
        meta["name"] = name
        if r.namespaced:
            meta["namespace"] = ns
        if live is not None:
            for k in ("uid", "creationTimestamp"):
                meta.setdefault(k, live["metadata"].get(k))
        else:
            import uuid
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", gotime.now_rfc3339())
            if r.has_generation:
                meta.setdefault("generation", 1)
        stored = ctx.store.write(r.storage_key, nsk, name, api.to_storage(r, obj))
        return r, live is None, stored
