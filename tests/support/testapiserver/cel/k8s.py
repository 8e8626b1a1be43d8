"""Kubernetes structural schema -> CEL types (k8s.io/apiserver/pkg/cel/common/schemas.go, 1.28),
property-name escaping (k8s.io/apiserver/pkg/cel/escaping.go) and JSON -> CEL value conversion."""
import base64
import re

from . import celtypes as ct
from .values import Obj, parse_duration, parse_timestamp

MAX_REQUEST_SIZE_BYTES = 3 * 1024 * 1024
MIN_STRING_SIZE = 2          # ""
MIN_BOOL_SIZE = 4            # true
MIN_NUMBER_SIZE = 1          # 0
MIN_DURATION_SIZE_JSON = 4   # "0s"
MAX_DURATION_SIZE_JSON = 32
JSON_DATE_SIZE = 12          # "2006-01-02"
MIN_DATETIME_SIZE_JSON = 22
MAX_DATETIME_SIZE_JSON = 64

RESERVED_SYMBOLS = {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function",
                    "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}
_EXPAND = re.compile(r"(__|[-./])")
_IDENT = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def escape(ident):
    """CEL-visible name of a property, or None when the name cannot be used in CEL."""
    if not ident or ident[0].isdigit():
        return None
    if ident in RESERVED_SYMBOLS:
        return "__" + ident + "__"
    out = _EXPAND.sub(lambda m: {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}[m.group(1)], ident)
    if not _IDENT.match(out):
        return None
    return out


def _types(s):
    t = s.get("type")
    return t


def with_type_and_object_meta(s):
    props = s.get("properties") or {}
    meta = props.get("metadata") or {}
    mprops = meta.get("properties") or {}
    if (props.get("kind", {}).get("type") == "string" and props.get("apiVersion", {}).get("type") == "string"
            and meta.get("type") == "object" and mprops.get("name", {}).get("type") == "string"
            and mprops.get("generateName", {}).get("type") == "string"):
        return s
    r = dict(s)
    p = dict(props)
    p["kind"] = {"type": "string"}
    p["apiVersion"] = {"type": "string"}
    p["metadata"] = {"type": "object", "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}}}
    r["properties"] = p
    return r


def _max_str(s):
    if s.get("x-kubernetes-int-or-string"):
        return MAX_REQUEST_SIZE_BYTES - 2
    f = s.get("format")
    if f == "duration":
        return MAX_DURATION_SIZE_JSON
    if f == "date":
        return JSON_DATE_SIZE
    if f == "date-time":
        return MAX_DATETIME_SIZE_JSON
    return MAX_REQUEST_SIZE_BYTES - 2


def _simple(t, min_size, max_elements=None):
    r = ct.T(t.kind, t.params, t.name)
    r.min_size = min_size
    r.max_elements = max_elements
    return r


def decl_type(s, is_root=False, name="object"):
    """The CEL type of a schema node (None when the node is not visible to CEL)."""
    if s is None or not isinstance(s, dict):
        return None
    if s.get("x-kubernetes-int-or-string"):
        r = _simple(ct.DYN, 1)
        r.max_elements = s["maxLength"] * 4 if isinstance(s.get("maxLength"), int) else _max_str(s)
        return r
    if is_root:
        s = with_type_and_object_meta(s)
    t = s.get("type")
    if t == "array":
        items = s.get("items")
        if not isinstance(items, dict):
            return None
        it = decl_type(items, bool(items.get("x-kubernetes-embedded-resource")), name + ".@idx")
        if it is None:
            return None
        mx = max(0, s["maxItems"]) if isinstance(s.get("maxItems"), int) else (MAX_REQUEST_SIZE_BYTES - 2) // (it.min_size + 1)
        r = ct.List(it)
        r.max_elements = mx
        r.min_size = 2
        return r
    if t == "object":
        ap = s.get("additionalProperties")
        if isinstance(ap, dict):
            vt = decl_type(ap, bool(ap.get("x-kubernetes-embedded-resource")), name + ".@elem")
            if vt is None:
                return None
            mx = max(0, s["maxProperties"]) if isinstance(s.get("maxProperties"), int) else (MAX_REQUEST_SIZE_BYTES - 2) // (vt.min_size + 6)
            r = ct.Map(_simple(ct.STRING, MIN_STRING_SIZE, MAX_REQUEST_SIZE_BYTES - 2), vt)
            r.max_elements = mx
            r.min_size = 2
            return r
        fields = {}
        required = set(s.get("required") or [])
        min_size = 2
        for pname, prop in (s.get("properties") or {}).items():
            esc = escape(pname)
            ft = decl_type(prop, bool(isinstance(prop, dict) and prop.get("x-kubernetes-embedded-resource")),
                           name + "." + (esc or pname))
            if ft is None:
                continue
            if esc is not None:
                fields[esc] = (ft, pname)
            if pname in required and "default" not in prop:
                min_size += len(pname) + ft.min_size + 4
        r = ct.T("object", name=name, fields=fields)
        r.min_size = min_size
        return r
    if t == "string":
        f = s.get("format")
        if f == "byte":
            return _simple(ct.BYTES, MIN_STRING_SIZE, max(0, s["maxLength"]) if isinstance(s.get("maxLength"), int) else _max_str(s))
        if f == "duration":
            return _simple(ct.DURATION, MIN_DURATION_SIZE_JSON, _max_str(s))
        if f == "date":
            return _simple(ct.TIMESTAMP, JSON_DATE_SIZE, _max_str(s))
        if f == "date-time":
            return _simple(ct.TIMESTAMP, MIN_DATETIME_SIZE_JSON, _max_str(s))
        if isinstance(s.get("maxLength"), int):
            mx = max(0, s["maxLength"]) * 4
        elif s.get("enum"):
            mx = max([len(e) for e in s["enum"] if isinstance(e, str)] or [0])
        else:
            mx = _max_str(s)
        return _simple(ct.STRING, MIN_STRING_SIZE, mx)
    if t == "boolean":
        return _simple(ct.BOOL, MIN_BOOL_SIZE)
    if t == "number":
        return _simple(ct.DOUBLE, MIN_NUMBER_SIZE)
    if t == "integer":
        return _simple(ct.INT, MIN_NUMBER_SIZE)
    return None


def max_cardinality(min_size):
    return MAX_REQUEST_SIZE_BYTES // ((min_size or 0) + 1)


# --- JSON -> CEL values ----------------------------------------------------------------------------

def to_cel(v, t):
    """Converts a JSON value at a node typed `t` (decl_type) into a CEL runtime value."""
    if v is None:
        return None
    if t is None or t.kind == "dyn":
        return _dyn(v)
    k = t.kind
    if k == "object":
        if not isinstance(v, dict):
            return _dyn(v)
        out = {}
        for esc, (ft, key) in t.fields.items():
            if key in v:
                out[esc] = to_cel(v[key], ft)
        return Obj(t.name, out)
    if k == "map":
        if not isinstance(v, dict):
            return _dyn(v)
        return {key: to_cel(x, t.params[1]) for key, x in v.items()}
    if k == "list":
        if not isinstance(v, list):
            return _dyn(v)
        return [to_cel(x, t.params[0]) for x in v]
    if k == "double" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if k == "duration" and isinstance(v, str):
        try:
            return parse_duration(v)
        except ValueError:
            return v
    if k == "timestamp" and isinstance(v, str):
        try:
            return parse_timestamp(v)
        except ValueError:
            return v
    if k == "bytes" and isinstance(v, str):
        try:
            return base64.b64decode(v)
        except Exception:
            return v
    return _dyn(v)


def _dyn(v):
    if isinstance(v, dict):
        return {k: _dyn(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dyn(x) for x in v]
    return v
