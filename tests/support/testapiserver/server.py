#!/usr/bin/python3
"""Keygate test API server: a stand-in for kube-apiserver v1.28 for integration and e2e tests.

Usage: see README.md in this folder. Prints `READY https://127.0.0.1:<port> <ca.crt>` once serving.
"""
import argparse
import os
import signal
import ssl
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import auth  # noqa: E402
import wire  # noqa: E402
import crds  # noqa: E402
import faults  # noqa: E402
import rbac_aggregation  # noqa: E402
import gotime  # noqa: E402
import http_handler  # noqa: E402
import k8s_builtins  # noqa: E402
import resources  # noqa: E402
import store as store_mod  # noqa: E402
import tlsfiles  # noqa: E402
import tokens as sa_tokens  # noqa: E402  (ServiceAccount tokens; `tokens` is the static token CSV below)
from errors import ApiError  # noqa: E402
from http.server import ThreadingHTTPServer  # noqa: E402


class Context:
    """Everything a request handler needs; one per server process."""

    def __init__(self, args, tokens, registry):
        self.store = store_mod.Store(watch_cache_size=args.watch_cache_size)
        # Each stored custom-resource version is encoded once, when it is written, and its JSON
        # is reused by list pages, watch events and the write's answer (kube-apiserver keeps
        # serialized objects too: etcd holds their bytes, and the watch cache encodes an event
        # once for all watchers). Python's encoder was most of this server's CPU in large lists.
        self.list_items = wire.ItemCache()
        self._cr_keys = (None, frozenset())
        self.store.listeners.append(self._encode_once)
        self.registry = registry
        self.tokens = tokens
        self.authz = auth.Authorizer(self.store, enabled=args.rbac)
        self.faults = faults.Faults()
        self.bookmark_interval = args.bookmark_interval
        self.min_request_timeout = 1800.0
        self.verbose = args.verbose
        self.apf = args.apf   # send API Priority and Fairness headers (POST /__test/apf toggles)
        self.address = ""
        self.req_lock = threading.Lock()
        self.requests = []

    def is_custom_resource(self, storage_key):
        by_path = self.registry.by_path   # replaced (never changed in place) when CRDs change
        if self._cr_keys[0] is not by_path:
            self._cr_keys = (by_path, frozenset(r.storage_key for r in by_path.values() if not r.builtin))
        return storage_key in self._cr_keys[1]

    def _encode_once(self, ev):
        if ev.type == "DELETED":
            self.list_items.forget(ev.prev)
        elif self.is_custom_resource(ev.key):
            self.list_items.item(ev.obj)

    def log_request(self, user, verb, path, code, user_agent="", fault=None):
        e = {"user": user, "verb": verb, "path": path, "code": code, "userAgent": user_agent,
             "t": round(time.monotonic(), 3)}
        if fault:
            e["fault"] = fault
        with self.req_lock:
            self.requests.append(e)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def _namespace(name):
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": gotime.now_rfc3339(),
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def _bootstrap(ctx, namespaces, file_crds=()):
    with ctx.store.lock:
        crds.bootstrap(ctx.store, file_crds)   # --crd CRDs, stored as established CustomResourceDefinitions
        for ns in namespaces:
            ctx.store.write(("", "namespaces"), "", ns, _namespace(ns), "ADDED")
        ctx.store.write(("rbac.authorization.k8s.io", "clusterroles"), "", "cluster-admin", {
            "kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": "cluster-admin", "uid": str(uuid.uuid4()), "creationTimestamp": gotime.now_rfc3339(),
                         "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                      {"verbs": ["*"], "nonResourceURLs": ["*"]}]}, "ADDED")
        rbac_aggregation.bootstrap(ctx.store)   # admin/edit/view and their aggregated rules
        sa_tokens.bootstrap(ctx.store)          # system:auth-delegator
        # history starts here: a watch from an RV older than the bootstrap is 'too old'
        ctx.store.history_start = ctx.store.rv
        ctx.store.log.clear()


def parse_args(argv):
    p = argparse.ArgumentParser(description="Keygate test API server (kube-apiserver v1.28 stand-in)")
    p.add_argument("--crd", action="append", default=[], help="CRD YAML file or directory (repeatable)")
    p.add_argument("--tokens", required=True, help="static token CSV: token,user,uid,\"group1,group2\"")
    p.add_argument("--tls-dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bookmark-interval", type=float, default=60.0)
    p.add_argument("--watch-cache-size", type=int, default=1000)
    p.add_argument("--namespaces", default="default,kube-system,keygate-system")
    p.add_argument("--rbac", dest="rbac", action="store_true", default=True)
    p.add_argument("--no-rbac", dest="rbac", action="store_false")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--apf", dest="apf", action="store_true", default=True)
    p.add_argument("--no-apf", dest="apf", action="store_false")
    # kube-controller-manager stand-ins (controllers.py): namespace controller, garbage collector, default SAs
    p.add_argument("--controllers", dest="controllers", action="store_true", default=False)
    p.add_argument("--no-controllers", dest="controllers", action="store_false")
    p.add_argument("--namespace-deletion-delay", type=float, default=0.5)
    p.add_argument("--service-account-issuer", default="https://kubernetes.default.svc.cluster.local")
    p.add_argument("--admission-control-config-file", default="",
                   help="AdmissionConfiguration: credentials presented to admission webhooks (webhook_auth.py)")
    return p.parse_args(argv)


def main(argv=None):
    try:
        args = parse_args(argv if argv is not None else sys.argv[1:])
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        registry = resources.Registry()
        for r in k8s_builtins.builtin_resources():
            registry.add(r)
        file_crds = resources.load_crd_paths(args.crd)
        for crd in file_crds:
            try:   # what the real server answers to the CRD's create: 422 -> we do not start either
                crds.check_file_crd(crd)
            except ApiError as e:
                sys.stderr.write("--crd: the API server would reject this CRD (HTTP %d): %s\n" % (e.code, e.message))
                return 2
            for r in resources.resources_from_crd(crds.set_defaults(crd)):
                registry.add(r)
        tokens = auth.load_tokens(args.tokens)
        ca, crt, key = tlsfiles.ensure(args.tls_dir)
        ctx = Context(args, tokens, registry)
        if args.admission_control_config_file:
            import webhook_auth
            try:
                ctx.webhook_auth = webhook_auth.load(args.admission_control_config_file)
            except Exception as e:   # unreadable file, bad YAML, wrong kinds: refuse to start
                sys.stderr.write("--admission-control-config-file: %s\n" % e)
                return 2
        _bootstrap(ctx, [n.strip() for n in args.namespaces.split(",") if n.strip()], file_crds)
        crds.Controller(ctx).start()   # CRD naming/establishing: serves CRDs created through the API
        rbac_aggregation.Controller(ctx.store).start()
        ctx.sa_issuer = args.service_account_issuer
        sa_tokens.service(ctx)   # ServiceAccount token signing key (RSA 2048) made before READY
        if args.controllers:
            import controllers
            controllers.Controllers(ctx, args.namespace_deletion_delay).start()
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(crt, key)
        sctx.load_verify_locations(ca)
        sctx.verify_mode = ssl.CERT_OPTIONAL   # request client certs, do not require them
        httpd = Server((args.host, args.port), http_handler.Handler, bind_and_activate=True)
        httpd.socket = sctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        httpd.ctx = ctx
    except Exception as e:  # noqa: BLE001  start-up errors: message + exit 2
        sys.stderr.write("testapiserver: %s\n" % e)
        return 2
    host, port = httpd.server_address[:2]
    ctx.address = "%s:%d" % (host, port)

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("READY https://%s:%d %s\n" % (host, port, ca))
    sys.stdout.flush()
    profile_to = os.environ.get("KEYGATE_TESTAPI_PROFILE")
    if profile_to:
        _profile_requests(profile_to)
    httpd.serve_forever(poll_interval=0.2)
    with ctx.store.lock:
        for w in list(ctx.store.watchers):
            w.close()
    httpd.server_close()
    return 0


def _profile_requests(path):
    """Opt-in (KEYGATE_TESTAPI_PROFILE=<file>): cProfile every request, dump pstats
    sorted by cumulative time to <file> every 5 s. For finding where the server's CPU goes
    in benchmarks; never on in tests."""
    import cProfile
    import io
    import pstats
    lock = threading.Lock()
    total = []
    orig = http_handler.Handler.handle_one_request

    def profiled(self):
        prof = cProfile.Profile(time.thread_time)  # CPU, not GIL or lock waits
        prof.enable()
        try:
            return orig(self)
        finally:
            prof.disable()
            with lock:
                if total:
                    total[0].add(prof)
                else:
                    total.append(pstats.Stats(prof))
    http_handler.Handler.handle_one_request = profiled

    def dump():
        while True:
            time.sleep(5)
            with lock:
                if not total:
                    continue
                out = io.StringIO()
                total[0].stream = out
                total[0].sort_stats(os.environ.get("KEYGATE_TESTAPI_PROFILE_SORT", "tottime")).print_stats(60)
                if os.environ.get("KEYGATE_TESTAPI_PROFILE_CALLEES"):
                    total[0].print_callees(os.environ["KEYGATE_TESTAPI_PROFILE_CALLEES"])
            with open(path, "w") as f:
                f.write(out.getvalue())
    threading.Thread(target=dump, daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
