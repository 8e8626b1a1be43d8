"""Minimal HTTP/1.1-over-TLS client that exposes what the samples record: status, raw headers,
whether the body was chunked, and each chunk with its arrival time (for watches)."""
import socket
import ssl
import threading
import time


class Resp:
    def __init__(self):
        self.status = 0
        self.headers = []
        self.chunked = False
        self.chunks = []       # [(t, bytes)]
        self.body = b""
        self.ended = False     # clean end of body (zero chunk / full length)
        self.ended_at = None   # seconds after the request when the zero-length chunk arrived
        self.error = None

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Conn:
    def __init__(self, host, port, cafile, timeout=30):
        ctx = ssl.create_default_context(cafile=cafile)
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=host)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError()
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, method, path, headers, body=b""):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: %d" % len(body))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def read_response(self, resp=None, stop=None, t0=None):
        resp = resp or Resp()
        t0 = t0 or time.monotonic()
        try:
            status = self._line().decode()
            resp.status = int(status.split()[1])
            while True:
                l = self._line().decode("latin-1")
                if not l:
                    break
                k, v = l.split(":", 1)
                resp.headers.append((k.strip(), v.strip()))
            te = [v for k, v in resp.headers if k.lower() == "transfer-encoding"]
            if te and "chunked" in te[0]:
                resp.chunked = True
                while True:
                    size = int(self._line().split(b";")[0], 16)
                    if size == 0:
                        self._line()
                        resp.ended = True
                        resp.ended_at = time.monotonic() - t0
                        break
                    data = self._exact(size)
                    self._exact(2)
                    resp.chunks.append((time.monotonic() - t0, data))
                    resp.body += data
            else:
                n = int((resp.header("Content-Length") or ["0"])[0])
                resp.body = self._exact(n)
                resp.ended = True
        except (EOFError, OSError, ssl.SSLError, ValueError) as e:
            resp.error = e
        return resp


def request(addr, cafile, method, path, headers, body=b"", timeout=30):
    host, port = addr
    c = Conn(host, port, cafile, timeout)
    try:
        c.send(method, path, headers, body)
        return c.read_response()
    finally:
        c.close()


class Stream:
    """A watch in a background thread; .stop() closes it from the client side."""

    def __init__(self, addr, cafile, path, headers):
        self.conn = Conn(addr[0], addr[1], cafile, timeout=120)
        self.resp = Resp()
        self.t0 = time.monotonic()
        self.conn.send("GET", path, headers)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.conn.read_response(self.resp, t0=self.t0)

    def lines(self):
        return [c for _, c in self.resp.chunks]

    def stop(self):
        # shutdown() wakes the reader thread; closing first would let it read a reused fd of a new connection
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.conn.close()

    def wait_end(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()
