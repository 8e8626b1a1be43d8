#!/usr/bin/python3
"""Structural check of crds/*.yaml (run with Debian's /usr/bin/python3, python3-yaml).

Checks what `kubectl explain` and a real kube-apiserver (>= 1.25) need and what the API
design (api.md) promises: group/version/scope, names (shortNames, categories), status
subresource, the printer columns api.md lists, a structural schema (every node typed,
every property described, arrays with items), enums/defaults consistent with types, and
CEL rules with messages whose inputs are bounded (maxItems/maxLength) so the estimated
cost stays within budget. Exit 1 with one line per problem.
"""
import os
import sys

import yaml

EXPECTED = {
    "encryptionkeys.keygate.dev": {
        "kind": "EncryptionKey", "short": ["ek"],
        "columns": ["Purpose", "Algorithm", "Backend", "State", "Version", "Age"]},
    "keyactivationrequests.keygate.dev": {
        "kind": "KeyActivationRequest", "short": ["kar"],
        "columns": ["Key", "Phase", "Approvals", "Requester", "Age"]},
    "keyrolebindings.keygate.dev": {
        "kind": "KeyRoleBinding", "short": ["krb"],
        "columns": ["Role", "ReviewBy", "Ready", "Age"]},
}
TYPES = {"object", "array", "string", "integer", "number", "boolean"}


# The only keys a real kube-apiserver allows in the root schema's metadata (sample 21:
# anything else, a description included, is "Forbidden: must not specify anything other
# than name and generateName, but metadata is implicitly specified").
METADATA_KEYS = {"type"}
METADATA_PROPS = {"name", "generateName"}
# Property names CEL cannot reach as written (sample 21): rules must say self.__word__.
CEL_RESERVED = {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
                "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
                "void", "while"}


def check_metadata(node, path, problems):
    extra = sorted(set(node) - METADATA_KEYS - {"properties"})
    props = node.get("properties") or {}
    extra += sorted(f"properties.{k}" for k in set(props) - METADATA_PROPS)
    if node.get("type") != "object" or extra:
        problems.append(f"{path}: must not specify anything other than name and generateName "
                        f"(kube-apiserver rejects the CRD); found {', '.join(extra) or 'no type: object'}")


def check_rule_words(node, path, problems):
    """A rule that names a reserved-word property unescaped does not compile on the real server."""
    import re
    for r in node.get("x-kubernetes-validations", []):
        rule = str(r.get("rule", ""))
        for word in sorted(CEL_RESERVED):
            if re.search(r"\.\s*" + word + r"\b", rule):
                problems.append(f"{path}: CEL rule {rule!r} names the reserved word {word!r}: "
                                f"write self.__{word}__ (Kubernetes' escaping)")


def walk(node, path, problems, under_cel=False):
    if not isinstance(node, dict):
        problems.append(f"{path}: schema node is not a mapping")
        return
    if path == "openAPIV3Schema.metadata":
        check_metadata(node, path, problems)
        return
    check_rule_words(node, path, problems)
    t = node.get("type")
    if t not in TYPES and not node.get("x-kubernetes-int-or-string") and not node.get(
            "x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: missing or invalid type {t!r}")
    if "description" not in node or not str(node["description"]).strip():
        problems.append(f"{path}: missing description")
    rules = node.get("x-kubernetes-validations", [])
    for r in rules:
        if "rule" not in r or "message" not in r:
            problems.append(f"{path}: CEL rule without rule/message: {r}")
    cel_here = under_cel or bool(rules)
    if "enum" in node and t == "string":
        for v in node["enum"]:
            if not isinstance(v, str):
                problems.append(f"{path}: enum value {v!r} is not a string")
    if "default" in node:
        d = node["default"]
        ok = {"string": isinstance(d, str), "integer": isinstance(d, int) and not isinstance(d, bool),
              "boolean": isinstance(d, bool), "object": isinstance(d, dict),
              "array": isinstance(d, list), "number": isinstance(d, (int, float))}.get(t, True)
        if not ok:
            problems.append(f"{path}: default {d!r} does not match type {t}")
        if "enum" in node and d not in node["enum"]:
            problems.append(f"{path}: default {d!r} not in enum")
    if t == "object":
        props = node.get("properties")
        if props is None and "additionalProperties" not in node and path.split(".")[-1] != "metadata":
            problems.append(f"{path}: object without properties or additionalProperties")
        for name, sub in (props or {}).items():
            walk(sub, f"{path}.{name}", problems, cel_here)
        for req in node.get("required", []):
            if req not in (props or {}):
                problems.append(f"{path}: required field {req!r} is not a property")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*", problems, cel_here)
    elif t == "array":
        if "items" not in node:
            problems.append(f"{path}: array without items")
        else:
            if cel_here and "maxItems" not in node:
                problems.append(f"{path}: array under a CEL rule needs maxItems (cost budget)")
            walk(node["items"], f"{path}[]", problems, cel_here)
    elif t == "string" and cel_here and "maxLength" not in node and "enum" not in node and "format" not in node:
        problems.append(f"{path}: string under a CEL rule needs maxLength (cost budget)")


def check(path):
    problems = []
    try:
        with open(path) as f:
            crd = yaml.safe_load(f)
    except yaml.YAMLError as e:
        return [f"invalid YAML: {e}"]
    name = crd.get("metadata", {}).get("name")
    exp = EXPECTED.get(name)
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1" or crd.get("kind") != "CustomResourceDefinition":
        problems.append("not an apiextensions.k8s.io/v1 CustomResourceDefinition")
    if exp is None:
        return [f"unexpected CRD name {name!r}"]
    spec = crd["spec"]
    names = spec.get("names", {})
    if spec.get("group") != "keygate.dev":
        problems.append("group is not keygate.dev")
    if spec.get("scope") != "Namespaced":
        problems.append("scope is not Namespaced")
    if names.get("kind") != exp["kind"]:
        problems.append(f"names.kind {names.get('kind')!r} != {exp['kind']!r}")
    if name != f"{names.get('plural')}.keygate.dev":
        problems.append("metadata.name is not <plural>.<group>")
    for k in ("plural", "singular", "listKind"):
        if not names.get(k):
            problems.append(f"names.{k} missing")
    if names.get("shortNames") != exp["short"]:
        problems.append(f"shortNames {names.get('shortNames')} != {exp['short']}")
    if "keygate" not in names.get("categories", []):
        problems.append("categories lacks keygate")
    versions = spec.get("versions", [])
    if [v.get("name") for v in versions] != ["v1alpha1"]:
        problems.append("versions must be exactly [v1alpha1]")
    for v in versions:
        if not (v.get("served") and v.get("storage")):
            problems.append("v1alpha1 must be served and storage")
        if v.get("subresources", {}).get("status") != {}:
            problems.append("status subresource missing")
        cols = [c.get("name") for c in v.get("additionalPrinterColumns", [])]
        if cols != exp["columns"]:
            problems.append(f"printer columns {cols} != {exp['columns']}")
        for c in v.get("additionalPrinterColumns", []):
            if not c.get("jsonPath") or c.get("type") not in {"string", "integer", "date", "number", "boolean"}:
                problems.append(f"printer column {c.get('name')}: bad jsonPath/type")
        schema = v.get("schema", {}).get("openAPIV3Schema")
        if not schema:
            problems.append("openAPIV3Schema missing")
            continue
        walk(schema, "openAPIV3Schema", problems)
        props = schema.get("properties", {})
        for p in ("apiVersion", "kind", "metadata", "spec", "status"):
            if p not in props:
                problems.append(f"top-level property {p} missing")
    return problems


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crds")
    files = sorted(f for f in os.listdir(root) if f.endswith(".yaml"))
    seen = set()
    failed = False
    for f in files:
        p = os.path.join(root, f)
        try:
            with open(p) as fh:
                seen.add(yaml.safe_load(fh)["metadata"]["name"])
        except (yaml.YAMLError, KeyError, TypeError):
            pass
        for problem in check(p):
            print(f"crds/{f}: {problem}")
            failed = True
    for missing in sorted(set(EXPECTED) - seen):
        print(f"crds/: missing CRD {missing}")
        failed = True
    if not failed:
        print(f"crds OK: {len(files)} CRDs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
