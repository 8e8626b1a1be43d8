"""Fault injection for reliability tests (POST /__test/faults)."""
import threading
import time

from errors import ApiError


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []        # {"status", "count", "retryAfter", "path", "verb"}
        self.conflicts = 0
        self.delays = []       # {"delayMs", "count", "path", "verb"}

    def clear(self):
        with self.lock:
            self.rules = []
            self.conflicts = 0
            self.delays = []

    def add(self, spec):
        with self.lock:
            if "status" in spec:
                self.rules.append({"status": int(spec["status"]), "count": int(spec.get("count", 1)),
                                   "retryAfter": spec.get("retryAfter"), "path": spec.get("path"),
                                   "verb": spec.get("verb")})
            if "conflict" in spec:
                self.conflicts += int(spec["conflict"])
            if "delayMs" in spec:
                self.delays.append({"delayMs": int(spec["delayMs"]), "count": int(spec.get("count", 1)),
                                    "path": spec.get("path"), "verb": spec.get("verb")})

    @staticmethod
    def _match(rule, path, verb):
        if rule.get("path") and rule["path"] not in path:
            return False
        if rule.get("verb") and rule["verb"].lower() != (verb or "").lower():
            return False
        return True

    def before(self, path, verb):
        """Sleeps for delay faults; raises ApiError for status faults."""
        delay = 0
        hit = None
        with self.lock:
            for d in self.delays:
                if d["count"] > 0 and self._match(d, path, verb):
                    d["count"] -= 1
                    delay = d["delayMs"]
                    break
            for r in self.rules:
                if r["count"] > 0 and self._match(r, path, verb):
                    r["count"] -= 1
                    hit = dict(r)
                    break
            self.rules = [r for r in self.rules if r["count"] > 0]
            self.delays = [d for d in self.delays if d["count"] > 0]
        if delay:
            time.sleep(delay / 1000.0)
        if hit:
            raise status_error(hit["status"], hit.get("retryAfter"))

    def take_conflict(self):
        with self.lock:
            if self.conflicts > 0:
                self.conflicts -= 1
                return True
        return False


def status_error(code, retry_after=None):
    headers = []
    details = None
    if retry_after is not None:
        headers.append(("Retry-After", str(int(retry_after))))
        details = {"retryAfterSeconds": int(retry_after)}
    if code == 429:
        return ApiError(429, "Too many requests, please try again later.", "TooManyRequests", details, headers)
    if code == 500:
        return ApiError(500, "Internal error occurred: injected fault", "InternalError", details or {"causes": [{"message": "injected fault"}]}, headers)
    if code == 503:
        return ApiError(503, "The server is currently unable to handle the request", "ServiceUnavailable", details, headers)
    if code == 504:
        return ApiError(504, "The request has timed out", "Timeout", details, headers)
    return ApiError(code, "injected fault", None, details, headers)
