"""Fault injection for reliability tests (POST /__test/faults).

Counted faults: {"status": 500, "count": 2, "path": "...", "verb": "..."}, {"conflict": N},
{"delayMs": 2000, "count": 1}, {"dropWatches": true}.

Random faults (a hostile network): {"random": {"rate": 0.1, "user": "<user name>", "seed": 1,
"kinds": ["409", "410", "429", "500", "drop", "dropAfter", "delay"], "delayMs": 2000, "retryAfter": 1}}
gives each resource request of that user (every user when omitted) the given chance of one
fault, chosen uniformly among the kinds that apply to it:
  409        update/patch carrying metadata.resourceVersion: Conflict, nothing written
  410        watch from a resourceVersion: 200, then an ERROR event with 410 Expired (as a real
             server sends when the version has left its watch cache), then the end of the stream
  429        TooManyRequests with Retry-After (API Priority and Fairness rejecting)
  500        InternalError, nothing done
  drop       the connection closes before the request is processed (no response); a watch is
             served, then cut mid-stream (no final chunk) after 0-20 s
  dropAfter  the request is processed, then the connection closes instead of the response
             (the client cannot know whether its write happened)
  delay      processed after delayMs
{"random": null} stops them. GET /__test/faults returns the counts of injected random faults.
"""
import random
import threading
import time

from errors import ApiError


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []        # {"status", "count", "retryAfter", "path", "verb"}
        self.conflicts = 0
        self.delays = []       # {"delayMs", "count", "path", "verb"}
        self.random = None     # {"rate", "user", "kinds", "delayMs", "retryAfter"}
        self.rng = random.Random(0)
        self.injected = {}     # kind -> count (random faults)

    def clear(self):
        with self.lock:
            self.rules = []
            self.conflicts = 0
            self.delays = []
            self.random = None

    RANDOM_KINDS = ("409", "410", "429", "500", "drop", "dropAfter", "delay")

    def set_random(self, spec):
        """Validates and installs (or with None removes) the random fault spec; ValueError when invalid."""
        if spec is None:
            with self.lock:
                self.random = None
            return
        if not isinstance(spec, dict):
            raise ValueError("random: an object")
        rate = float(spec.get("rate", 0.1))
        if not 0.0 <= rate <= 1.0:
            raise ValueError("random.rate: between 0 and 1")
        kinds = spec.get("kinds") or list(self.RANDOM_KINDS)
        bad = [k for k in kinds if k not in self.RANDOM_KINDS]
        if bad or not isinstance(kinds, list):
            raise ValueError("random.kinds: unknown %s (known: %s)" % (bad, ", ".join(self.RANDOM_KINDS)))
        r = {"rate": rate, "user": spec.get("user"), "kinds": list(kinds),
             "delayMs": int(spec.get("delayMs", 2000)), "retryAfter": int(spec.get("retryAfter", 1))}
        with self.lock:
            self.random = r
            self.rng = random.Random(int(spec.get("seed", 0)))
            self.injected = {}

    def pick_random(self, user, verb, carries_rv, watch_from_rv):
        """The random fault for this request (a kind, with its spec) or (None, None)."""
        with self.lock:
            r = self.random
            if r is None or (r["user"] and r["user"] != user) or self.rng.random() >= r["rate"]:
                return None, None
            kinds = []
            for k in r["kinds"]:
                if k == "409" and not (verb in ("update", "patch") and carries_rv):
                    continue
                if k == "410" and not (verb == "watch" and watch_from_rv):
                    continue
                if k == "dropAfter" and verb == "watch":
                    continue
                kinds.append(k)
            if not kinds:
                return None, None
            k = self.rng.choice(kinds)
            self.injected[k] = self.injected.get(k, 0) + 1
            return k, dict(r, dropAfterSeconds=self.rng.uniform(0, 20))

    def counts(self):
        with self.lock:
            return {"random": self.random, "injected": dict(self.injected)}

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
