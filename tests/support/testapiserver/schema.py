"""OpenAPI v3 structural schema handling for custom resources: pruning, defaulting, validation,
and the tiny CEL subset we can honestly evaluate.

CEL: only transition rules of the form `self == oldSelf` and `self.<x> == oldSelf.<x>` are evaluated
(immutability). Every other rule is skipped (documented in README.md); the operator mirrors CEL
rules in its own api/ validation and unit-tests them there.
"""
import re

from errors import cause
from jsoncopy import copy_json

OBJECT_META_FIELDS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                      "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                      "annotations", "ownerReferences", "finalizers", "managedFields"}


def type_name(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    return "null"


def go_value(v):
    """How apimachinery prints a value after 'Invalid value: '."""
    import json
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    if v is None:
        return "null"
    return '"%s"' % type_name(v)


def _join(path, key):
    return key if not path else path + "." + key


def preserves(schema):
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


# --- pruning -------------------------------------------------------------------------------

def prune(obj, schema, path="", root=True):
    """Removes fields the schema does not declare; returns their paths (for warnings / Strict)."""
    unknown = []
    if not isinstance(obj, dict) or schema is None:
        return unknown
    if root:
        props = schema.get("properties", {})
        for key in list(obj.keys()):
            if key in ("apiVersion", "kind"):
                continue
            if key == "metadata":
                if isinstance(obj[key], dict):
                    for mk in list(obj[key].keys()):
                        if mk not in OBJECT_META_FIELDS:
                            unknown.append("metadata." + mk)
                            del obj[key][mk]
                continue
            if key in props:
                unknown.extend(_prune_value(obj[key], props[key], key))
            elif not preserves(schema):
                unknown.append(key)
                del obj[key]
        return unknown
    return _prune_value(obj, schema, path)


def _prune_value(v, schema, path):
    unknown = []
    if schema is None:
        return unknown
    if isinstance(v, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            pass
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        if props is not None or (addl is None and not preserves(schema)):
            props = props or {}
            for key in list(v.keys()):
                if key in props:
                    unknown.extend(_prune_value(v[key], props[key], _join(path, key)))
                elif isinstance(addl, dict):
                    unknown.extend(_prune_value(v[key], addl, _join(path, key)))
                elif addl is True or preserves(schema):
                    continue
                else:
                    unknown.append(_join(path, key))
                    del v[key]
        elif isinstance(addl, dict):
            for key in list(v.keys()):
                unknown.extend(_prune_value(v[key], addl, _join(path, key)))
    elif isinstance(v, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(v):
                unknown.extend(_prune_value(x, items, "%s[%d]" % (path, i)))
    return unknown


# --- defaulting ----------------------------------------------------------------------------

def apply_defaults(v, schema):
    import copy
    if schema is None:
        return
    if isinstance(v, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in v and v[key] is None and not sub.get("nullable"):
                # a null on a non-nullable field: defaulted when there is a default, else dropped (21 D13)
                if "default" in sub:
                    v[key] = copy_json(sub["default"])
                else:
                    del v[key]
                continue
            if key not in v and "default" in sub:
                v[key] = copy_json(sub["default"])
            if key in v:
                apply_defaults(v[key], sub)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for key in v:
                apply_defaults(v[key], addl)
    elif isinstance(v, list) and isinstance(schema.get("items"), dict):
        for x in v:
            apply_defaults(x, schema["items"])


# --- validation ----------------------------------------------------------------------------

_FORMATS = {
    "date-time": re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "uuid": re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"),
    "byte": re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"),
    "ipv4": re.compile(r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"),
    "hostname": re.compile(r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,62})(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,62}))*$"),
}


class Result:
    def __init__(self):
        self.structural = []   # type and required errors (they also stop CEL evaluation)
        self.value = []        # enum, bounds, pattern, ...


def validate(obj, schema):
    """Validates a whole custom resource against openAPIV3Schema (metadata is validated elsewhere)."""
    res = Result()
    if schema is None:
        return res
    props = schema.get("properties", {})
    required = schema.get("required", [])
    meta_props = (props.get("metadata") or {}).get("properties") or {}
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    for key in ("name", "generateName"):   # the only metadata schemas a CRD may declare (21 A3/A4/A7)
        if key in meta_props and meta.get(key) is not None:
            _validate(meta[key], meta_props[key], "metadata." + key, res)
    for key, sub in props.items():
        if key == "metadata":
            continue
        if key in obj:
            _validate(obj[key], sub, key, res)
    for key in required:
        if key not in obj:
            res.structural.append(cause("FieldValueRequired", "Required value", key))
    return res


def _validate(v, schema, path, res):
    if v is None:
        if schema.get("nullable"):
            return
        if not schema.get("type") and preserves(schema):
            return
    t = schema.get("type")
    actual = type_name(v)
    if schema.get("x-kubernetes-int-or-string"):
        if actual not in ("integer", "string"):
            res.structural.append(cause("FieldValueTypeInvalid",
                                        'Invalid value: "%s": %s in body must be of type integer,string: "%s"' % (actual, path, actual), path))
            return
    elif t:
        ok = (actual == t) or (t == "number" and actual == "integer")
        if not ok:
            res.structural.append(cause("FieldValueTypeInvalid",
                                        'Invalid value: "%s": %s in body must be of type %s: "%s"' % (actual, path, t, actual), path))
            return
    if isinstance(v, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key in v:
                _validate(v[key], sub, _join(path, key), res)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for key in sorted(v):
                if key not in props:
                    _validate(v[key], addl, _join(path, key), res)
        elif addl is False:   # not pruned: rejected (21 D4)
            for key in sorted(v):
                if key not in props:
                    res.value.append(cause("FieldValueInvalid", 'Invalid value: "%s": %s in body is a forbidden property'
                                           % (key, _join(path, key)), path))
        for key in schema.get("required", []):
            if key not in v:
                res.structural.append(cause("FieldValueRequired", "Required value", _join(path, key)))
        if "maxProperties" in schema and len(v) > schema["maxProperties"]:
            res.value.append(cause("FieldValueTooMany", "Too many: %d: must have at most %d items" % (len(v), schema["maxProperties"]), path))
        if "minProperties" in schema and len(v) < schema["minProperties"]:
            res.value.append(cause("FieldValueInvalid", "Invalid value: %d: %s in body should have at least %d properties" % (len(v), path, schema["minProperties"]), path))
    elif isinstance(v, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(v):
                _validate(x, items, "%s[%d]" % (path, i), res)
        if "maxItems" in schema and len(v) > schema["maxItems"]:
            res.value.append(cause("FieldValueTooMany", "Too many: %d: must have at most %d items" % (len(v), schema["maxItems"]), path))
        if "minItems" in schema and len(v) < schema["minItems"]:
            res.value.append(cause("FieldValueInvalid", "Invalid value: %d: %s in body should have at least %d items" % (len(v), path, schema["minItems"]), path))
        if schema.get("x-kubernetes-list-type") == "map" and schema.get("x-kubernetes-list-map-keys"):
            keys = schema["x-kubernetes-list-map-keys"]
            seen = []
            for i, x in enumerate(v):
                if not isinstance(x, dict):
                    continue
                k = {kk: x[kk] for kk in keys if kk in x}
                if k in seen:
                    res.value.append(cause("FieldValueDuplicate", "Duplicate value: %s" % _go_map(k), "%s[%d]" % (path, i)))
                seen.append(k)
        if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
            seen = []
            for i, x in enumerate(v):
                if x in seen:
                    res.value.append(cause("FieldValueDuplicate", "Duplicate value: %s" % go_value(x), "%s[%d]" % (path, i)))
                seen.append(x)
    if "enum" in schema and v not in schema["enum"]:
        res.value.append(cause("FieldValueNotSupported", "Unsupported value: %s: supported values: %s" % (
            go_value(v), ", ".join(go_value(e) for e in schema["enum"])), path))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema:
            if schema.get("exclusiveMinimum") and v <= schema["minimum"]:
                res.value.append(cause("FieldValueInvalid", "Invalid value: %s: %s in body should be greater than %s" % (go_value(v), path, go_value(schema["minimum"])), path))
            elif v < schema["minimum"]:
                res.value.append(cause("FieldValueInvalid", "Invalid value: %s: %s in body should be greater than or equal to %s" % (go_value(v), path, go_value(schema["minimum"])), path))
        if "maximum" in schema:
            if schema.get("exclusiveMaximum") and v >= schema["maximum"]:
                res.value.append(cause("FieldValueInvalid", "Invalid value: %s: %s in body should be less than %s" % (go_value(v), path, go_value(schema["maximum"])), path))
            elif v > schema["maximum"]:
                res.value.append(cause("FieldValueInvalid", "Invalid value: %s: %s in body should be less than or equal to %s" % (go_value(v), path, go_value(schema["maximum"])), path))
        if "multipleOf" in schema and schema["multipleOf"] and (v / schema["multipleOf"]) % 1 != 0:
            res.value.append(cause("FieldValueInvalid", "Invalid value: %s: %s in body should be a multiple of %s" % (go_value(v), path, go_value(schema["multipleOf"])), path))
    if isinstance(v, str):
        # kube-openapi's string validator stops at its first error (21 D16)
        if "maxLength" in schema and len(v) > schema["maxLength"]:
            res.value.append(cause("FieldValueTooLong", "Too long: may not be longer than %d" % schema["maxLength"], path))
        elif "minLength" in schema and len(v) < schema["minLength"]:
            res.value.append(cause("FieldValueInvalid", "Invalid value: %s: %s in body should be at least %d chars long" % (go_value(v), path, schema["minLength"]), path))
        elif "pattern" in schema:
            try:
                if not re.search(schema["pattern"], v):
                    res.value.append(cause("FieldValueInvalid", "Invalid value: %s: %s in body should match '%s'" % (go_value(v), path, schema["pattern"]), path))
            except re.error:
                pass
        fmt = schema.get("format")
        if fmt in _FORMATS and not _FORMATS[fmt].match(v):
            res.value.append(cause("FieldValueTypeInvalid", "Invalid value: %s: %s in body must be of type %s: %s" % (go_value(v), path, fmt, go_value(v)), path))


def _go_map(d):
    import json
    def val(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, dict):
            return _go_map(x)
        return json.dumps(x, ensure_ascii=False)
    return "map[string]interface {}{%s}" % ", ".join("%s:%s" % (json.dumps(k), val(d[k])) for k in sorted(d))


def has_cel(schema):
    if not isinstance(schema, dict):
        return False
    if schema.get("x-kubernetes-validations"):
        return True
    for sub in (schema.get("properties") or {}).values():
        if has_cel(sub):
            return True
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict) and has_cel(schema[key]):
            return True
    return False


# --- CEL subset ----------------------------------------------------------------------------

_SELF_EQ = re.compile(r"^\s*self\s*==\s*oldSelf\s*$")
_FIELD_EQ = re.compile(r"^\s*self\.([A-Za-z_][A-Za-z0-9_]*)\s*==\s*oldSelf\.\1\s*$")
_MISSING = object()


def cel_transition_errors(new, old, schema, path=""):
    """Evaluates the supported transition rules; runs only where the node exists in old and new."""
    out = []
    if schema is None or new is _MISSING or old is _MISSING:
        return out
    for rule in schema.get("x-kubernetes-validations") or []:
        text = rule.get("rule", "")
        msg = rule.get("message") or ("failed rule: " + text)
        field = path or "<nil>"
        value = 'Invalid value: "%s": ' % type_name(new)
        m = _FIELD_EQ.match(text)
        if _SELF_EQ.match(text):
            if new != old:
                out.append(cause("FieldValueInvalid", value + msg, field))
        elif m:
            key = m.group(1)
            if not isinstance(new, dict) or not isinstance(old, dict) or key not in new or key not in old:
                out.append(cause("FieldValueInvalid", value + "no such key: %s evaluating rule: %s" % (key, rule.get("message") or text), field))
            elif new[key] != old[key]:
                out.append(cause("FieldValueInvalid", value + msg, field))
        # any other rule: not evaluated (see module docstring)
    if isinstance(new, dict) and isinstance(old, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if path == "" and key == "metadata":
                continue
            out.extend(cel_transition_errors(new.get(key, _MISSING), old.get(key, _MISSING), sub, _join(path, key)))
    return out
