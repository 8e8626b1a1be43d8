"""CustomResourceDefinition validation as kube-apiserver 1.28 does it at create (sample 21), for the CRDs the
server loads with --crd: a CRD the real server would reject makes the server refuse to start, so a
broken crds/ fails Keygate's own tests first.

Covered (messages as recorded in sample 21): the root `properties.metadata` restriction, structural-schema
errors (missing type at the root or on object fields, additionalProperties with properties, arrays without
items, unknown types, x-kubernetes-preserve-unknown-fields: false), every x-kubernetes-validations rule
through the CEL package (compile, types, reserved words and escaping, cost budget, oldSelf placement,
messageExpression, reason, fieldPath), RE2 pattern validity, list types (map keys, set items), defaults
(type, bounds, enum, unknown fields, CEL), names (name = plural.group, DNS names, group with a dot, listKind !=
kind), versions (schemas required, exactly one storage version, storedVersions) and printer columns (type,
format, jsonPath). Messages and the order of causes follow apiextensions' ValidateCustomResourceDefinition:
metadata, group, scope, versions, names, schema (per-rule checks, patterns, CEL, structural, list types,
defaults), printer columns, status.storedVersions. The NamesAccepted conflicts are the controller's (crds.py).

Identical per-version schemas / printer columns are reported at the internal hoisted paths
(`spec.validation.openAPIV3Schema`, `spec.additionalPrinterColumns[i]`) as the real server does; differing ones
at `spec.versions[i].schema.openAPIV3Schema` / `spec.versions[i].additionalPrinterColumns[j]`.
"""
import json
import re

try:
    import cel
except ImportError:   # the CEL package is optional: without it rules are not compiled
    cel = None
import objects
import schema as schema_mod
from errors import cause, invalid
from jsoncopy import copy_json

ROOT = "spec.validation.openAPIV3Schema"
TYPES = ("object", "array", "string", "integer", "number", "boolean")


def _structural(node, path, problems, root=False):
    if not isinstance(node, dict):
        return
    t = node.get("type")
    if t is None:
        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True or node.get("x-kubernetes-int-or-string") is True
        if root:
            problems.append(cause("FieldValueRequired", "Required value: must not be empty at the root", path + ".type"))
        elif not preserve:
            problems.append(cause("FieldValueRequired", "Required value: must not be empty for specified object fields",
                                  path + ".type"))
    elif t not in TYPES:
        problems.append(cause("FieldValueNotSupported", 'Unsupported value: "%s": supported values: "array", "boolean", '
                              '"integer", "number", "object", "string"' % t, path + ".type"))
    if node.get("x-kubernetes-preserve-unknown-fields") is False:
        problems.append(cause("FieldValueInvalid", "Invalid value: false: must be true or undefined",
                              path + ".x-kubernetes-preserve-unknown-fields"))
    if "properties" in node and isinstance(node.get("additionalProperties"), dict):
        problems.append(cause("FieldValueForbidden", "Forbidden: additionalProperties and properties are mutual exclusive",
                              path + ".additionalProperties"))
    if t == "array" and "items" not in node:
        problems.append(cause("FieldValueRequired", "Required value: must be specified", path + ".items"))
    for name, sub in (node.get("properties") or {}).items():
        sub_path = "%s.properties[%s]" % (path, name)
        if root and name == "metadata":
            extra = set(sub) - {"type", "properties"} or set((sub.get("properties") or {})) - {"name", "generateName"}
            if extra or sub.get("type", "object") != "object":
                problems.append(cause("FieldValueForbidden", "Forbidden: must not specify anything other than name and "
                                      "generateName, but metadata is implicitly specified", sub_path))
                continue
        _structural(sub, sub_path, problems)
    if isinstance(node.get("additionalProperties"), dict):
        _structural(node["additionalProperties"], path + ".additionalProperties", problems)
    if isinstance(node.get("items"), dict):
        _structural(node["items"], path + ".items", problems)



# --- OpenAPI checks that precede the structural ones (patterns, list-map keys) ---------------------------

def _go_regexp_error(pattern):
    """Go regexp (RE2) parse error text for pattern, or None when RE2 accepts it (approximated with Python re)."""
    m = re.search(r"\(\?(<[=!]|[=!])", pattern)
    if m:
        return "invalid or unsupported Perl syntax: `%s`" % pattern[m.start():m.start() + 3]
    m = re.search(r"\\([1-9])", pattern)
    if m:
        return "invalid escape sequence: `\\%s`" % m.group(1)
    try:
        re.compile(pattern)
        return None
    except re.error as e:
        msg, pos = str(e.msg), e.pos if e.pos is not None else 0
        if msg.startswith("unterminated character set"):
            return "missing closing ]: `%s`" % pattern[pos:]
        if msg.startswith("missing ), unterminated subpattern"):
            return "missing closing ): `%s`" % pattern
        if msg.startswith("unbalanced parenthesis"):
            return "unexpected ): `%s`" % pattern
        if msg.startswith("nothing to repeat"):
            return "missing argument to repetition operator: `%s`" % pattern[pos:pos + 1]
        if msg.startswith("multiple repeat"):
            return "invalid nested repetition operator: `%s`" % pattern[pos - 1:pos + 1]
        if msg.startswith("bad escape"):
            return "invalid escape sequence: `%s`" % pattern[pos:pos + 2]
        if msg.startswith("bad character range"):
            return "invalid character class range: `%s`" % msg.rsplit(" ", 1)[-1]
        return msg


def _openapi(node, path, problems):
    if not isinstance(node, dict):
        return
    if isinstance(node.get("pattern"), str):
        err = _go_regexp_error(node["pattern"])
        if err:
            problems.append(cause("FieldValueInvalid", "Invalid value: %s: must be a valid regular expression, but isn't: "
                                  "error parsing regexp: %s" % (json.dumps(node["pattern"]), err), path + ".pattern"))
    if node.get("x-kubernetes-list-type") == "map" and not node.get("x-kubernetes-list-map-keys"):
        problems.append(cause("FieldValueRequired", "Required value: must not be empty if x-kubernetes-list-type is map",
                              path + ".x-kubernetes-list-map-keys"))
    for name, sub in (node.get("properties") or {}).items():
        _openapi(sub, "%s.properties[%s]" % (path, name), problems)
    for key in ("additionalProperties", "items"):
        if isinstance(node.get(key), dict):
            _openapi(node[key], path + "." + key, problems)


# --- list types and defaults (only for structural schemas) ---------------------------------------------

def _lists(node, path, problems):
    if not isinstance(node, dict):
        return
    lt = node.get("x-kubernetes-list-type")
    items = node.get("items") if isinstance(node.get("items"), dict) else None
    if lt == "set" and items is not None:
        if items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
            problems.append(cause("FieldValueInvalid", 'Invalid value: %s: must be atomic as item of a list with '
                                  'x-kubernetes-list-type=set' % json.dumps(items.get("x-kubernetes-map-type") or "null"),
                                  path + ".items.x-kubernetes-map-type"))
        elif items.get("type") == "array" and items.get("x-kubernetes-list-type") not in (None, "atomic"):
            problems.append(cause("FieldValueInvalid", 'Invalid value: %s: must be atomic as item of a list with '
                                  'x-kubernetes-list-type=set' % json.dumps(items.get("x-kubernetes-list-type")),
                                  path + ".items.x-kubernetes-list-type"))
    if lt == "map" and items is not None and node.get("x-kubernetes-list-map-keys"):
        if items.get("type") != "object":
            problems.append(cause("FieldValueInvalid", 'Invalid value: %s: must be object if parent array\'s '
                                  'x-kubernetes-list-type is map' % json.dumps(items.get("type", "")), path + ".items.type"))
        else:
            props = items.get("properties") or {}
            for k in node["x-kubernetes-list-map-keys"]:
                kp = "%s.items.properties[%s]" % (path, k)
                if k not in props:
                    problems.append(cause("FieldValueRequired", "Required value: entries of x-kubernetes-list-map-keys "
                                          "must be properties of the items", "%s.items.properties" % path))
                elif k not in (items.get("required") or []) and "default" not in props[k]:
                    problems.append(cause("FieldValueRequired", "Required value: this property is in "
                                          "x-kubernetes-list-map-keys, so it must have a default or be a required property",
                                          kp + ".default"))
    for name, sub in (node.get("properties") or {}).items():
        _lists(sub, "%s.properties[%s]" % (path, name), problems)
    for key in ("additionalProperties", "items"):
        if isinstance(node.get(key), dict):
            _lists(node[key], path + "." + key, problems)


def go_dump(v):
    """%#v of an unstructured JSON value, as Go prints it in 'Invalid value: ...'."""
    if isinstance(v, dict):
        return "map[string]interface {}{%s}" % ", ".join("%s:%s" % (json.dumps(k), go_dump(v[k])) for k in sorted(v))
    if isinstance(v, list):
        return "[]interface {}{%s}" % ", ".join(go_dump(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "interface {}(nil)"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return json.dumps(v, ensure_ascii=False)


def _defaults(node, path, problems):
    if not isinstance(node, dict):
        return
    if "default" in node and not path.endswith(ROOT):
        dpath = path + ".default"
        value = node["default"]
        probe = copy_json(value)
        unknown = schema_mod.prune(probe, node, "", root=False) if isinstance(probe, (dict, list)) else []
        if unknown:
            problems.append(cause("FieldValueInvalid", "Invalid value: %s: must not have unknown fields" % go_dump(value),
                                  dpath))
        else:
            res = schema_mod.Result()
            if value is None and node.get("nullable"):
                pass
            else:
                schema_mod._validate(value, node, "", res)
            found = [dict(c, field=dpath) for c in res.structural + res.value]
            problems.extend(found)
            if not found and cel is not None and schema_mod.has_cel(node):
                problems.extend(dict(c, field=dpath) for c in
                                cel.evaluate(value, None, node, path=dpath, is_root=False))
    for name, sub in (node.get("properties") or {}).items():
        _defaults(sub, "%s.properties[%s]" % (path, name), problems)
    for key in ("additionalProperties", "items"):
        if isinstance(node.get(key), dict):
            _defaults(node[key], path + "." + key, problems)


# --- names, versions, columns ------------------------------------------------------------------------

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
               "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
               "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def _dns1035(v):
    if len(v) > 63:
        return "must be no more than 63 characters"
    if not _DNS1035.match(v):
        return DNS1035_MSG
    return None


def _meta(crd, problems, with_meta):
    meta = crd.get("metadata") or {}
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = meta.get("name", "")
    if with_meta:
        problems += objects.validate_meta(meta)
    if name and name != "%s.%s" % (names.get("plural", ""), spec.get("group", "")):
        problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": must be spec.names.plural+"."+spec.group' % name,
                              "metadata.name"))


def _group_scope(spec, problems):
    group = spec.get("group") or ""
    if not group:
        problems.append(cause("FieldValueRequired", "Required value", "spec.group"))
    elif not objects._DNS_SUBDOMAIN.match(group) or len(group) > 253:
        problems.append(cause("FieldValueInvalid", "Invalid value: %s: %s" % (json.dumps(group), objects.SUBDOMAIN_MSG),
                              "spec.group"))
    elif "." not in group:
        problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": should be a domain with at least one dot' % group,
                              "spec.group"))
    scope = spec.get("scope") or ""
    if not scope:
        problems.append(cause("FieldValueRequired", "Required value", "spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        problems.append(cause("FieldValueNotSupported", 'Unsupported value: %s: supported values: "Cluster", "Namespaced"'
                              % json.dumps(scope), "spec.scope"))


def _schema_of(v):
    return (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(v.get("schema"), dict) else None


def _hoisted(versions, get):
    vals = [get(v) for v in versions]
    return len(vals) > 0 and all(x == vals[0] for x in vals)


def _go_version(v, schema_ptr, subs_ptr, cols_ptr):
    return ('apiextensions.CustomResourceDefinitionVersion{Name:%s, Served:%s, Storage:%s, Deprecated:%s, '
            'DeprecationWarning:(*string)(nil), Schema:(*apiextensions.CustomResourceValidation)(%s), '
            'Subresources:(*apiextensions.CustomResourceSubresources)(%s), '
            'AdditionalPrinterColumns:[]apiextensions.CustomResourceColumnDefinition(nil)}' % (
                json.dumps(v.get("name", "")), str(bool(v.get("served"))).lower(), str(bool(v.get("storage"))).lower(),
                str(bool(v.get("deprecated"))).lower(), schema_ptr, subs_ptr)).replace("(nil), Subresources", "(nil), Subresources")


def _versions(spec, problems):
    versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
    if not versions:
        problems.append(cause("FieldValueInvalid", "Invalid value: []apiextensions.CustomResourceDefinitionVersion(nil): "
                              "must have exactly one version marked as storage version", "spec.versions"))
        return
    for i, v in enumerate(versions):
        if _schema_of(v) is None and not spec.get("preserveUnknownFields"):
            problems.append(cause("FieldValueRequired", "Required value: schemas are required",
                                  "spec.versions[%d].schema.openAPIV3Schema" % i))
    seen = set()
    for i, v in enumerate(versions):
        err = _dns1035(v.get("name", ""))
        if err:
            problems.append(cause("FieldValueInvalid", "Invalid value: %s: %s" % (json.dumps(v.get("name", "")), err),
                                  "spec.versions[%d].name" % i))
        seen.add(v.get("name"))
    if sum(1 for v in versions if v.get("storage")) != 1:
        hoist_schema = _hoisted(versions, _schema_of)
        hoist_subs = _hoisted(versions, lambda v: v.get("subresources"))
        dumps = []
        for i, v in enumerate(versions):
            sp = "nil" if hoist_schema or _schema_of(v) is None else "0xc0068f9a%02x" % (0x78 + i)
            su = "nil" if hoist_subs or not v.get("subresources") else "0xc0068f9b%02x" % (0x78 + i)
            dumps.append(_go_version(v, sp, su, "nil"))
        problems.append(cause("FieldValueInvalid", "Invalid value: []apiextensions.CustomResourceDefinitionVersion{%s}: "
                              "must have exactly one version marked as storage version" % ", ".join(dumps), "spec.versions"))
    if len(seen) != len(versions):
        problems.append(cause("FieldValueInvalid", "Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}: "
                              "must contain unique version names", "spec.versions"))


def _names(spec, problems):
    names = spec.get("names") or {}
    for f in ("plural", "singular", "kind", "listKind"):
        if not names.get(f):
            problems.append(cause("FieldValueRequired", "Required value", "spec.names." + f))
    for f in ("plural", "singular"):
        v = names.get(f) or ""
        err = v and _dns1035(v)
        if err:
            problems.append(cause("FieldValueInvalid", "Invalid value: %s: %s" % (json.dumps(v), err), "spec.names." + f))
    for f in ("kind", "listKind"):
        v = names.get(f) or ""
        err = v and _dns1035(v.lower())
        if err:
            problems.append(cause("FieldValueInvalid", "Invalid value: %s: may have mixed case, but should otherwise match: %s"
                                  % (json.dumps(v), err), "spec.names." + f))
    for i, s in enumerate(names.get("shortNames") or []):
        err = _dns1035(s)
        if err:
            problems.append(cause("FieldValueInvalid", "Invalid value: %s: %s" % (json.dumps(s), err),
                                  "spec.names.shortNames[%d]" % i))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": kind and listKind may not be the same'
                              % names["kind"], "spec.names.listKind"))


COLUMN_TYPES = "boolean,date,integer,number,string"
COLUMN_FORMATS = "byte,date,date-time,double,float,int32,int64,password"


def _columns(cols, prefix, problems):
    for i, c in enumerate(cols or []):
        path = "%s[%d]" % (prefix, i)
        if not c.get("name"):
            problems.append(cause("FieldValueRequired", "Required value", path + ".name"))
        if not c.get("type"):
            problems.append(cause("FieldValueRequired", "Required value: must be one of " + COLUMN_TYPES, path + ".type"))
        elif c.get("type") not in COLUMN_TYPES.split(","):
            problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": must be one of %s' % (c.get("type"), COLUMN_TYPES),
                                  path + ".type"))
        if c.get("format") and c["format"] not in COLUMN_FORMATS.split(","):
            problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": must be one of %s' % (c["format"], COLUMN_FORMATS),
                                  path + ".format"))
        jp = c.get("jsonPath", "")
        if not jp:
            problems.append(cause("FieldValueRequired", "Required value", path + ".JSONPath"))
        elif not jp.startswith("."):
            problems.append(cause("FieldValueInvalid", 'Invalid value: %s: must be a simple json path starting with .'
                                  % json.dumps(jp), path + ".JSONPath"))


def _schema_problems(schema, root):
    problems = []
    rule_problems = cel.validate_rules(schema, root) if cel is not None else []
    problems += [p.cause() for p in rule_problems if p.kind == "schema"]
    _openapi(schema, root, problems)
    structural = []
    _structural(schema, root, structural, root=True)
    problems += structural
    if not structural:
        _lists(schema, root, problems)
        if not problems:
            _defaults(schema, root, problems)
        problems += [p.cause() for p in rule_problems if p.kind != "schema"]
    return problems


def _stored_versions(crd, problems):
    stored = (crd.get("status") or {}).get("storedVersions")
    if stored is None:
        return
    if not stored:
        problems.append(cause("FieldValueInvalid", "Invalid value: []string{}: must have at least one stored version",
                              "status.storedVersions"))
        return
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("storage") and v.get("name") not in stored:
            problems.append(cause("FieldValueInvalid", "Invalid value: []string{%s}: must have the storage version %s"
                                  % (", ".join(json.dumps(s) for s in stored), v.get("name")), "status.storedVersions"))


def problems_of(crd, with_meta=True):
    """The causes kube-apiserver reports for this (defaulted) CRD, in its order (empty when it accepts it).
    with_meta: include the generic ObjectMeta checks (the API's create path runs those itself)."""
    import crds   # defaulting (singular, listKind, conversion) as the API applies it before validation
    crd = crds.set_defaults(copy_json(crd))
    problems = []
    spec = crd.get("spec") or {}
    _meta(crd, problems, with_meta)
    _group_scope(spec, problems)
    _versions(spec, problems)
    _names(spec, problems)
    versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
    if versions and _hoisted(versions, _schema_of):
        if isinstance(_schema_of(versions[0]), dict):
            problems += _schema_problems(_schema_of(versions[0]), ROOT)
    else:
        for i, v in enumerate(versions):
            if isinstance(_schema_of(v), dict):
                problems += _schema_problems(_schema_of(v), "spec.versions[%d].schema.openAPIV3Schema" % i)
    if versions and _hoisted(versions, lambda v: v.get("additionalPrinterColumns")):
        _columns(versions[0].get("additionalPrinterColumns"), "spec.additionalPrinterColumns", problems)
    else:
        for i, v in enumerate(versions):
            _columns(v.get("additionalPrinterColumns"), "spec.versions[%d].additionalPrinterColumns" % i, problems)
    _stored_versions(crd, problems)
    return problems


def check(crd):
    """Raises the 422 Status (errors.ApiError) the real server answers to this CRD's create."""
    problems = problems_of(crd)
    if problems:
        name = (crd.get("metadata") or {}).get("name", "")
        raise invalid("CustomResourceDefinition.apiextensions.k8s.io", name, "apiextensions.k8s.io",
                      "CustomResourceDefinition", problems)
