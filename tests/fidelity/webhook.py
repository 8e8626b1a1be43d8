"""A small HTTPS admission webhook that answers like the one used for samples 12a-12c and records
every AdmissionReview it receives (path, headers, body)."""
import base64
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.conn_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        with self.server.conn_lock:
            self.server.conns.discard(self.connection)
        super().finish()

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        review = json.loads(body)
        self.server.calls.append({"path": self.path, "headers": dict(self.headers.items()), "body": review})
        req = review["request"]
        obj = req.get("object") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        resp = {"uid": req["uid"], "allowed": True}
        if self.path.startswith("/mutate") and not req.get("subResource"):
            if (obj.get("metadata") or {}).get("annotations"):
                ops = [{"op": "add", "path": "/metadata/annotations/example.test~1mutated", "value": "true"}]
            else:
                ops = [{"op": "add", "path": "/metadata/annotations", "value": {"example.test/mutated": "true"}}]
            resp["patchType"] = "JSONPatch"
            resp["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        if self.path.startswith("/validate"):
            d = labels.get("deny")
            if d == "yes":
                resp = {"uid": req["uid"], "allowed": False, "status": {"code": 403, "message": "widgets labelled deny=yes are not allowed"}}
            elif d == "nocode":
                resp = {"uid": req["uid"], "allowed": False, "status": {"message": "denied without a code"}}
            elif d == "reason":
                resp = {"uid": req["uid"], "allowed": False, "status": {"code": 422, "reason": "Invalid", "message": "size is unlucky"}}
            elif labels.get("warn") == "yes":
                resp["warnings"] = ["widget is labelled warn=yes", "second warning"]
        out = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class Webhook:
    def __init__(self, port, crt, key):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _H)
        self.httpd.daemon_threads = True
        self.httpd.calls = []
        self.httpd.conns = set()   # open (kept-alive) connections: a stopped webhook drops them too
        self.httpd.conn_lock = threading.Lock()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def calls(self):
        return self.httpd.calls

    def stop(self):
        """Down as a deleted pod is: no listener and no open connection (the API server keeps
        webhook connections alive, so closing only the listener would leave it served)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.httpd.conn_lock:
            conns = list(self.httpd.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
