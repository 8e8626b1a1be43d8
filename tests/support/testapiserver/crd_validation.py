"""CustomResourceDefinition validation as kube-apiserver 1.28 does it at create (sample 21), for the CRDs the
server loads with --crd: a CRD the real server would reject makes the server refuse to start, so a
broken crds/ fails Keygate's own tests first.

Covered (messages as recorded in sample 21): the root `properties.metadata` restriction, structural-schema
errors (missing type at the root or on object fields, additionalProperties with properties, arrays without
items, unknown types, x-kubernetes-preserve-unknown-fields: false), every x-kubernetes-validations rule
through the CEL package (compile, types, reserved words and escaping, cost budget, oldSelf placement,
messageExpression, reason, fieldPath), names (name = plural.group, group with a dot, listKind != kind) and
printer columns (jsonPath, type, format). Not covered here: defaults, formats, patterns, list types, the
storage-version count and the NamesAccepted conflicts of a CRD served through the API.
"""
import cel
from errors import cause, invalid

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


def _names(crd, problems):
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
    name = (crd.get("metadata") or {}).get("name", "")
    if name != "%s.%s" % (plural, group):
        problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": must be spec.names.plural+"."+spec.group' % name,
                              "metadata.name"))
    if "." not in group:
        problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": should be a domain with at least one dot' % group,
                              "spec.group"))
    if names.get("listKind") and names.get("listKind") == kind:
        problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": kind and listKind may not be the same' % kind,
                              "spec.names.listKind"))


COLUMN_TYPES = "boolean,date,integer,number,string"
COLUMN_FORMATS = "byte,date,date-time,double,float,int32,int64,password"


def _columns(crd, problems):
    for v in (crd.get("spec") or {}).get("versions") or []:
        for i, c in enumerate(v.get("additionalPrinterColumns") or []):
            path = "spec.additionalPrinterColumns[%d]" % i
            jp = c.get("jsonPath", "")
            if not jp.startswith("."):
                problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": must be a simple json path starting with .'
                                      % jp, path + ".JSONPath"))
            if c.get("type") not in COLUMN_TYPES.split(","):
                problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": must be one of %s' % (c.get("type"), COLUMN_TYPES),
                                      path + ".type"))
            if c.get("format") and c["format"] not in COLUMN_FORMATS.split(","):
                problems.append(cause("FieldValueInvalid", 'Invalid value: "%s": must be one of %s' % (c["format"], COLUMN_FORMATS),
                                      path + ".format"))


def problems_of(crd):
    """The causes kube-apiserver would report for this CRD (empty when it would accept it)."""
    problems = []
    _names(crd, problems)
    _columns(crd, problems)
    for v in (crd.get("spec") or {}).get("versions") or []:
        schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
        if not isinstance(schema, dict):
            continue
        structural = []
        _structural(schema, ROOT, structural, root=True)
        rule_problems = cel.validate_rules(schema, ROOT)
        problems += [p.cause() for p in rule_problems if p.kind == "schema"]
        problems += structural
        if not structural:
            problems += [p.cause() for p in rule_problems if p.kind != "schema"]
    return problems


def check(crd):
    """Raises the 422 Status (errors.ApiError) the real server answers to this CRD's create."""
    problems = problems_of(crd)
    if problems:
        name = (crd.get("metadata") or {}).get("name", "")
        raise invalid("CustomResourceDefinition.apiextensions.k8s.io", name, "apiextensions.k8s.io",
                      "CustomResourceDefinition", problems)
