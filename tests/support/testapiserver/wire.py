"""Wire encoding: JSON the way Go's encoding/json writes it, key order, pretty printing, YAML.

Custom resources are unstructured maps in the real server, so every level is written with sorted
keys. Built-in types are Go structs and keep struct field order; ORDER specs describe that order.
"""
import json
import os

import yaml

# --- key order -----------------------------------------------------------------------------
# A spec is one of:
#   None            leaf, or a map: written with sorted keys (Go marshals maps sorted)
#   [(key, spec)]   a struct: keys in this order, unknown keys after them, sorted
#   ("list", spec)  a list whose items follow spec


def order(value, spec):
    if callable(spec):      # a function ordering this value itself (e.g. crds.order_props)
        return spec(value)
    if isinstance(value, dict):
        if isinstance(spec, list):
            out = {}
            known = set()
            for key, sub in spec:
                known.add(key)
                if key in value:
                    out[key] = order(value[key], sub)
            for key in sorted(k for k in value if k not in known):
                out[key] = sort_all(value[key])
            return out
        return sort_all(value)
    if isinstance(value, list):
        sub = spec[1] if isinstance(spec, tuple) and spec[0] == "list" else None
        return [order(v, sub) for v in value]
    return value


def sort_all(value):
    if isinstance(value, dict):
        return {k: sort_all(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sort_all(v) for v in value]
    return value


MANAGED_FIELDS = ("list", [("manager", None), ("operation", None), ("apiVersion", None), ("time", None),
                           ("fieldsType", None), ("fieldsV1", None), ("subresource", None)])
OWNER_REF = ("list", [("apiVersion", None), ("kind", None), ("name", None), ("uid", None),
                      ("controller", None), ("blockOwnerDeletion", None)])
OBJECT_META = [("name", None), ("generateName", None), ("namespace", None), ("selfLink", None), ("uid", None),
               ("resourceVersion", None), ("generation", None), ("creationTimestamp", None),
               ("deletionTimestamp", None), ("deletionGracePeriodSeconds", None), ("labels", None),
               ("annotations", None), ("ownerReferences", OWNER_REF), ("finalizers", None),
               ("managedFields", MANAGED_FIELDS)]
LIST_META = [("selfLink", None), ("resourceVersion", None), ("continue", None), ("remainingItemCount", None)]
CAUSES = ("list", [("reason", None), ("message", None), ("field", None)])
STATUS = [("kind", None), ("apiVersion", None), ("metadata", LIST_META), ("status", None), ("message", None),
          ("reason", None), ("details", [("name", None), ("group", None), ("kind", None), ("uid", None),
                                         ("causes", CAUSES), ("retryAfterSeconds", None)]), ("code", None)]


def typed(kind_spec):
    """Spec for a top-level built-in object: kind, apiVersion, metadata, then its own fields."""
    return [("kind", None), ("apiVersion", None), ("metadata", OBJECT_META)] + kind_spec


# --- JSON ----------------------------------------------------------------------------------

def _go_escape(text):
    # Go's encoder escapes HTML-significant characters and the JS line separators.
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class Sorted:
    """A custom-resource body: every object's keys in sorted order (Go encodes unstructured
    maps that way). Serialized by json.dumps(sort_keys=True), in C, instead of rebuilding
    every dict in Python first (sort_all)."""
    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj


def compact(obj):
    if isinstance(obj, Sorted):
        return _go_escape(json.dumps(obj.obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True))
    return _go_escape(json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False))


def pretty(obj):
    if isinstance(obj, Sorted):
        return _go_escape(json.dumps(obj.obj, indent=2, separators=(",", ": "), ensure_ascii=False, allow_nan=False,
                                     sort_keys=True))
    return _go_escape(json.dumps(obj, indent=2, separators=(",", ": "), ensure_ascii=False, allow_nan=False))


def watch_event_line(typ, item_json):
    """One watch line (with its newline) around an object's cached JSON: watch_event's bytes."""
    return b'{"type":' + compact(typ).encode("utf-8") + b',"object":' + item_json + b"}\n"


def watch_event(typ, obj):
    """One watch line's JSON: {"type":...,"object":...} in that order (obj may be Sorted)."""
    return '{"type":' + compact(typ) + ',"object":' + compact(obj) + "}"


def _integral(text):
    f = float(text)
    return int(f) if f.is_integer() and abs(f) < 2 ** 63 else f


def normalized_copy(obj):
    """A deep copy of JSON data with integral floats as ints: normalize_numbers(deep copy),
    done by the C JSON codec."""
    return json.loads(json.dumps(obj), parse_float=_integral)


# KEYGATE_TESTAPI_CHECK_ENCODED=1: every cache hit is compared with a fresh encoding (a stored
# object changed in place would be served stale); for running the suite once after changes here.
_CHECK_CACHE = os.environ.get("KEYGATE_TESTAPI_CHECK_ENCODED") == "1"


def _encode_item(obj):
    return compact(Sorted(obj)).encode("utf-8")


class ItemCache:
    """Each stored custom-resource object's compact JSON, encoded once. Stored objects are never
    mutated in place (store.py), so an entry is valid while it holds the very object it was made
    from; a new version of the object is a new dict and misses. A large paged list then costs
    the page's joins, not a json.dumps of 500 objects per page (a Go kube-apiserver encodes a
    page of 500 keys in a few ms; Python's encoder took ~40 ms of the one GIL per page)."""

    def __init__(self):
        self._entries = {}   # (namespace, name, uid) -> (obj, utf-8 bytes)

    def item(self, obj, keep=True):
        """obj's compact JSON (sorted keys, Go's escapes, UTF-8, no newline). keep=False: a miss
        is encoded but not remembered (objects that are not the stored version, such as a
        DELETED event's final state)."""
        m = obj.get("metadata") or {}
        k = (m.get("namespace", ""), m.get("name", ""), m.get("uid", ""))
        hit = self._entries.get(k)
        if hit is not None and hit[0] is obj:
            if _CHECK_CACHE and hit[1] != _encode_item(obj):
                raise AssertionError("a stored object was changed in place after it was encoded: %s/%s" % k[:2])
            return hit[1]
        data = _encode_item(obj)
        if keep:
            self._entries[k] = (obj, data)
        return data

    def forget(self, obj):
        m = (obj or {}).get("metadata") or {}
        self._entries.pop((m.get("namespace", ""), m.get("name", ""), m.get("uid", "")), None)


def encode_sorted_list(api_version, kind, items, list_meta, cache):
    """Compact JSON of a custom-resource list, byte for byte what
    encode_json(Sorted({"apiVersion", "items", "kind", "metadata"}), False) writes, with each
    item taken from the cache."""
    return b"".join((b'{"apiVersion":', compact(api_version).encode("utf-8"), b',"items":[',
                     b",".join(cache.item(o) for o in items),
                     b'],"kind":', compact(kind).encode("utf-8"),
                     b',"metadata":', compact(Sorted(list_meta)).encode("utf-8"), b"}\n"))


def encode_json(obj, want_pretty):
    """Body bytes: compact + '\\n' normally; 2-space indent without newline for curl/?pretty."""
    if want_pretty:
        return pretty(obj).encode("utf-8")
    return (compact(obj) + "\n").encode("utf-8")


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def encode_yaml(obj):
    # sigs.k8s.io/yaml converts JSON to YAML with sorted keys (it goes through map[string]interface{}).
    if isinstance(obj, Sorted):
        obj = obj.obj
    return yaml.dump(json.loads(json.dumps(obj)), Dumper=_Dumper, default_flow_style=False, sort_keys=True,
                     allow_unicode=True, width=1 << 20).encode("utf-8")


# --- decoding ------------------------------------------------------------------------------

class DupDict(dict):
    """A JSON object that remembers keys that appeared more than once (last value wins, as in Go)."""
    dups = ()


def _dup_dict(pairs):
    d = DupDict()
    dups = []
    for k, v in pairs:
        if k in d:
            dups.append(k)
        d[k] = v
    d.dups = dups
    return d


def normalize_numbers(v):
    """Integral floats become ints (Go's unstructured decoder keeps them as int64)."""
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 2 ** 63:
            return int(v)
        return v
    if isinstance(v, dict):
        out = DupDict() if isinstance(v, DupDict) else {}
        if isinstance(v, DupDict):
            out.dups = v.dups
        for k, x in v.items():
            out[k] = normalize_numbers(x)
        return out
    if isinstance(v, list):
        return [normalize_numbers(x) for x in v]
    return v


def collect_dups(v, path=""):
    """Paths of duplicate keys, e.g. ['spec.size']."""
    out = []
    if isinstance(v, dict):
        for k in getattr(v, "dups", ()):
            out.append(path + k if not path else path + "." + k)
        for k, x in v.items():
            out.extend(collect_dups(x, (path + "." + k) if path else k))
    elif isinstance(v, list):
        for x in v:
            out.extend(collect_dups(x, path))
    return out


class DecodeError(Exception):
    pass


def go_json_error(text, exc):
    """Approximate Go's json error text for a Python JSONDecodeError."""
    pos = getattr(exc, "pos", 0)
    rest = text[pos:].strip()
    if not rest or exc.msg.startswith("Expecting") and pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    ch = text[pos]
    if exc.msg.startswith("Expecting property name"):
        return "invalid character %s looking for beginning of object key string" % _go_char(ch)
    if exc.msg.startswith("Expecting ',' delimiter") or exc.msg.startswith("Expecting ':'"):
        return "invalid character %s after object key:value pair" % _go_char(ch)
    if exc.msg.startswith("Extra data"):
        return "invalid character %s after top-level value" % _go_char(ch)
    return "invalid character %s looking for beginning of value" % _go_char(ch)


def _go_char(ch):
    if ch == "'":
        return "'\\''"
    if ord(ch) < 0x20 or ord(ch) >= 0x7f:
        return "'\\u%04x'" % ord(ch)
    return "'%s'" % ch


def parse_json(text):
    return parse_json_dups(text)[0]


def parse_json_dups(text):
    """(object, whether any JSON object in it repeated a key). Integral floats become ints
    (Go's unstructured decoder keeps them as int64); an object with a repeated key becomes a
    DupDict (last value wins, as in Go) and every other one a plain dict, so collect_dups
    is needed only when the flag is set and copy_json keeps its fast path."""
    found = []

    def hook(pairs):
        d = dict(pairs)
        if len(d) == len(pairs):
            return d
        found.append(True)
        return _dup_dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=hook, parse_float=_integral), bool(found)
    except json.JSONDecodeError as e:
        raise DecodeError(go_json_error(text, e))


def parse_yaml(text):
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = (mark.line + 1) if mark else 0
        problem = getattr(e, "problem", None) or str(e)
        import re as _re
        m = _re.match(r"expected (.*), but (?:found|got) .*", problem)
        if m:   # go-yaml words it 'did not find expected ...'
            problem = "did not find expected " + m.group(1)
        raise DecodeError("error converting YAML to JSON: yaml: line %d: %s" % (line, problem))
    return normalize_numbers(_yaml_to_json(data))


def _yaml_to_json(v):
    import datetime
    if isinstance(v, dict):
        return {str(k): _yaml_to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_yaml_to_json(x) for x in v]
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat().replace("+00:00", "Z")
    return v


# --- protobuf (only what a 406 needs: a Status wrapped in runtime.Unknown) ---------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, data):
    return _varint((num << 3) | 2) + _varint(len(data)) + data


def status_protobuf(st):
    """kube's protobuf encoding of a Status: 'k8s\\x00' + runtime.Unknown{typeMeta, raw}."""
    meta = _field(1, b"") + _field(2, b"") + _field(3, b"")
    body = _field(1, meta) + _field(2, st.get("status", "").encode()) + _field(3, st.get("message", "").encode())
    body += _field(4, (st.get("reason") or "").encode())
    if st.get("details"):
        d = st["details"]
        det = _field(1, (d.get("name") or "").encode()) + _field(2, (d.get("group") or "").encode()) + \
            _field(3, (d.get("kind") or "").encode())
        body += _field(5, det)
    body += _varint((6 << 3) | 0) + _varint(int(st.get("code", 0)))
    tm = _field(1, b"v1") + _field(2, b"Status")
    return b"k8s\x00" + _field(1, tm) + _field(2, body) + _field(3, b"") + _field(4, b"")
