"""Compares a recorded JSON body with the one our server produced, after normalising volatile values.

Mappings (recorded -> actual) are kept per sample file for resourceVersions, uids and generated names,
so equality between values is still checked ("the same RV as page 1", "the uid of w1").
"""
import base64
import json
import re

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
GENNAME = re.compile(r"^(.+-)[bcdfghjklmnpqrstvwxz2456789]{5}$")


class Mapper:
    def __init__(self):
        self.rv = {}
        self.rv_rev = {}
        self.uid = {}
        self.names = {}
        self.literals = set()     # values sent in requests (compared exactly)
        self.ca_bundle = None

    def bind_rv(self, rec, act):
        rec, act = str(rec), str(act)
        if rec in self.rv:
            return self.rv[rec] == act
        if act in self.rv_rev and self.rv_rev[act] != rec:
            # two recorded RVs collapsed into one of ours: note, but accept (other writers in the recording)
            pass
        self.rv[rec] = act
        self.rv_rev.setdefault(act, rec)
        return True

    def bind_uid(self, rec, act):
        if rec in self.uid:
            return self.uid[rec] == act
        self.uid[rec] = act
        return True

    # --- request rewriting ---
    def rewrite_text(self, text):
        def rv_sub(m):
            return m.group(1) + self.rv.get(m.group(2), m.group(2)) + m.group(3)
        text = re.sub(r'("resourceVersion"\s*:\s*")(\d+)(")', rv_sub, text)
        text = UUID.sub(lambda m: self.uid.get(m.group(0), m.group(0)), text)
        for rec, act in self.names.items():
            text = text.replace(rec, act)
        if self.ca_bundle:
            text = text.replace("<base64 CA PEM>", self.ca_bundle)
        return text

    def rewrite_path(self, path):
        def rv_sub(m):
            return m.group(1) + self.rv.get(m.group(2), m.group(2))
        path = re.sub(r"(resourceVersion=)(\d+)", rv_sub, path)

        def cont_sub(m):
            tok = m.group(2)
            try:
                d = json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
            except Exception:
                return m.group(0)
            if isinstance(d, dict) and "rv" in d and d["rv"] != -1:
                d["rv"] = int(self.rv.get(str(d["rv"]), d["rv"]))
                raw = json.dumps(d, separators=(",", ":"))
                tok = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
            return m.group(1) + tok
        path = re.sub(r"(continue=)([A-Za-z0-9_-]+)", cont_sub, path)
        for rec, act in self.names.items():
            path = path.replace("/" + rec, "/" + act)
        return path


def norm_message(s):
    s = UUID.sub("<UID>", s)
    s = re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "<TS>", s)
    s = re.sub(r"0xc[0-9a-f]+", "<PTR>", s)
    s = re.sub(r"\d+", "<N>", s)
    return s


def decode_token(tok):
    try:
        return json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
    except Exception:
        return None


class Comparer:
    def __init__(self, mapper, loose_keys=()):
        self.m = mapper
        self.errors = []
        self.loose = set(loose_keys)

    def err(self, path, msg):
        self.errors.append("%s: %s" % (path or "<root>", msg))

    def cmp(self, rec, act, path="", key=None):
        if isinstance(rec, dict):
            if not isinstance(act, dict):
                return self.err(path, "expected object, got %s" % json.dumps(act)[:80])
            # keys may embed uids (managedFields 'k:{"uid":...}'): map recorded uids first
            rmap = {UUID.sub(lambda m: self.m.uid.get(m.group(0), m.group(0)), k): k for k in rec}
            rk, ak = list(rmap.keys()), list(act.keys())
            if rk != ak:
                self.err(path, "keys %s != recorded %s" % (ak, list(rec.keys())))
            for k in rk:
                if k in act:
                    self.cmp(rec[rmap[k]], act[k], path + "." + k, k)
            return
        if isinstance(rec, list) and key == "managedFields" and isinstance(act, list) \
                and len({e.get("time") for e in rec if isinstance(e, dict)}) <= 1:
            # apimachinery orders entries by (operation, time, manager, subresource); the recording had all
            # entries in one second, a replay may straddle a second boundary: compare in the time-free order
            k = lambda e: (e.get("operation", ""), e.get("manager", ""), e.get("subresource", "")) if isinstance(e, dict) else ("",)
            rec, act = sorted(rec, key=k), sorted(act, key=k)
        if isinstance(rec, list):
            if not isinstance(act, list):
                return self.err(path, "expected array, got %s" % json.dumps(act)[:80])
            if len(rec) != len(act):
                self.err(path, "array length %d != recorded %d" % (len(act), len(rec)))
            for i, (a, b) in enumerate(zip(rec, act)):
                self.cmp(a, b, "%s[%d]" % (path, i), key)
            return
        if key in self.loose:
            return
        if isinstance(rec, str) and isinstance(act, str):
            return self.cmp_str(rec, act, path, key)
        if rec != act or type(rec) != type(act):
            self.err(path, "%s != recorded %s" % (json.dumps(act), json.dumps(rec)))

    def cmp_str(self, rec, act, path, key):
        m = self.m
        if rec == act:
            if key == "resourceVersion":
                m.bind_rv(rec, act)
            return
        if key == "resourceVersion" and rec.isdigit() and act.isdigit():
            if not m.bind_rv(rec, act):
                self.err(path, "resourceVersion %s, expected the value mapped from recorded %s (%s)" % (act, rec, m.rv[rec]))
            return
        if UUID.fullmatch(rec) and UUID.fullmatch(act):
            if not m.bind_uid(rec, act):
                self.err(path, "uid %s, expected %s (recorded %s)" % (act, m.uid[rec], rec))
            return
        if TS.match(rec) and TS.match(act):
            if rec in m.literals:
                self.err(path, "%s != sent value %s" % (act, rec))
            elif len(rec) != len(act):
                self.err(path, "timestamp shape %s != recorded %s" % (act, rec))
            return
        if key == "continue" and rec and act:
            dr, da = decode_token(rec), decode_token(act)
            if not dr or not da:
                return self.err(path, "continue token not decodable")
            if dr.get("v") != da.get("v") or dr.get("start") != da.get("start"):
                self.err(path, "continue token %s != recorded %s" % (da, dr))
            if dr.get("rv") == -1 or da.get("rv") == -1:
                if dr.get("rv") != da.get("rv"):
                    self.err(path, "continue rv %s != recorded %s" % (da.get("rv"), dr.get("rv")))
            elif not m.bind_rv(str(dr.get("rv")), str(da.get("rv"))):
                self.err(path, "continue rv %s does not map from recorded %s" % (da.get("rv"), dr.get("rv")))
            return
        if key in ("name", "generateName") or key is None:
            g1, g2 = GENNAME.match(rec), GENNAME.match(act)
            if key == "name" and g1 and g2 and g1.group(1) == g2.group(1) and rec not in m.literals:
                if m.names.get(rec, act) != act:
                    self.err(path, "generated name %s != %s" % (act, m.names[rec]))
                m.names[rec] = act
                return
        if key in ("message", "note") or "\n" in rec or key is None:
            if norm_message(rec) == norm_message(act):
                return
        if key in ("caBundle",):
            return
        if key == "patch":
            return
        if key == "touch":
            return
        if re.fullmatch(r"\d+[smhd]", rec) and re.fullmatch(r"\d+[smhd]", act):
            return   # Table age cells
        self.err(path, "%s != recorded %s" % (json.dumps(act)[:300], json.dumps(rec)[:300]))
