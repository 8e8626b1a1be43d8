"""CEL for x-kubernetes-validations, as kube-apiserver 1.28 (cel-go v0.16 + apiextensions) does it.

Modules: syntax (lexer, parser, macros, cel-go error display) · celtypes (checker types) · decls (function
declarations of the Kubernetes CEL environment) · checker (type checking) · cost (static cost estimate) ·
interpreter + values (evaluation) · k8s (schema -> CEL types, property escaping, JSON -> CEL values).

CRD-facing API (used by the server):

validate_rules(schema, path_prefix) -> list of problems
    Every x-kubernetes-validations problem of one version's openAPIV3Schema (`schema`, a dict) as kube-apiserver
    reports it at CRD create/update. Each problem is a 3-tuple (reason, field, message):
      reason  - 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueNotSupported'
      field   - internal path, e.g. 'spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule'
                (path_prefix is the path of the root schema, normally 'spec.validation.openAPIV3Schema')
      message - the COMPLETE cause message, value part included, exactly as in details.causes[].message, e.g.
                'Invalid value: apiextensions.ValidationRule{Rule:"self.import != \\'x\\'", ...}: compilation failed: ERROR: ...'
                so `errors.cause(reason, message, field)` builds the cause and `errors.invalid(...)` the Status.
    The tuples are `Problem` objects (a tuple subclass) that also carry `.kind`: 'schema' for the per-rule field
    checks (empty rule, message, reason, fieldPath - kube-apiserver lists these with the structural schema errors),
    'cel' for compile/type/cost/oldSelf problems and 'total' for the schema-wide cost-total causes (always last).
    Order: all 'schema' problems (schema traversal order), then all 'cel' ones, then the 'total' ones.
    `.cause()` returns the cause dict.

evaluate(new_obj, old_obj, schema, path=None, is_root=True) -> list of cause dicts {reason, message, field}
    Runs every rule on a custom resource write (old_obj None on create; transition rules then never run).
    `schema` is the version's openAPIV3Schema. For CRD default validation pass the default value, old_obj None,
    the property's schema, path='spec.validation...properties[x].default' and is_root=False.
"""
import json

from . import cost as costmod
from .checker import check
from .interpreter import evaluate as _eval
from .k8s import decl_type, max_cardinality, to_cel
from .syntax import parse
from .values import EvalError

__all__ = ["validate_rules", "evaluate", "compile_expression", "Problem"]

SUPPORTED_REASONS = ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]
_SELF_TYPE_NAME = "selfType%d" % 578342361


class Problem(tuple):
    def __new__(cls, reason, field, message, kind="cel"):
        t = tuple.__new__(cls, (reason, field, message))
        t.kind = kind
        return t

    def cause(self):
        return {"reason": self[0], "message": self[2], "field": self[1]}


# --- Go formatting helpers ------------------------------------------------------------------------

def go_quote(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[ch])
        elif o < 0x20 or o == 0x7f:
            out.append("\\x%02x" % o)
        elif not ch.isprintable() and o > 0x7f:
            out.append("\\u%04x" % o if o <= 0xffff else "\\U%08x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def rule_dump(rule):
    reason = rule.get("reason")
    rs = "(*apiextensions.FieldValueErrorReason)(nil)" if reason is None else "(*apiextensions.FieldValueErrorReason)(0xc000a1b2c0)"
    return "apiextensions.ValidationRule{Rule:%s, Message:%s, MessageExpression:%s, Reason:%s, FieldPath:%s}" % (
        go_quote(rule.get("rule") or ""), go_quote(rule.get("message") or ""),
        go_quote(rule.get("messageExpression") or ""), rs, go_quote(rule.get("fieldPath") or ""))


def cost_error_message(name, cost, limit):
    f = float(cost) / float(limit)
    if f > 100.0:
        factor = "more than 100x"
    elif f < 1.5:
        factor = "%fx" % f
    else:
        factor = "%.1fx" % f
    return ("%s exceeds budget by factor of %s (try simplifying the rule, or adding maxItems, maxProperties, and "
            "maxLength where arrays, maps, and strings are declared)") % (name, factor)


# --- compilation ----------------------------------------------------------------------------------

class Compiled:
    def __init__(self):
        self.ast = None
        self.error = None          # detail text (after the value part)
        self.max_cost = 0
        self.transition = False
        self.msg_ast = None
        self.msg_error = None
        self.msg_cost = None


def compile_expression(text, self_type):
    """Parses and checks one expression with self/oldSelf of type self_type.
    Returns (ast, result type, referenced variables, issues display string or None)."""
    ast, issues = parse(text)
    if ast is None:
        return None, None, set(), issues.to_display_string()
    t, refs = check(ast, {"self": self_type, "oldSelf": self_type}, issues)
    if issues:
        return None, None, refs, issues.to_display_string()
    return ast, t, refs, None


def compile_rule(rule, self_type):
    c = Compiled()
    text = rule.get("rule") or ""
    if not text.strip():
        return c
    ast, t, refs, err = compile_expression(text, self_type)
    if err is not None:
        c.error = "compilation failed: " + err
        return c
    if t.kind != "bool":
        c.error = "cel expression must evaluate to a bool"
        return c
    c.ast = ast
    c.transition = "oldSelf" in refs
    c.max_cost = costmod.estimate(ast, self_type)
    mexpr = rule.get("messageExpression") or ""
    if mexpr.strip():
        mast, mt, _, merr = compile_expression(mexpr, self_type)
        if merr is not None:
            c.msg_error = "messageExpression compilation failed: " + merr
        elif mt.kind != "string":
            c.msg_error = "messageExpression must evaluate to a string"
        else:
            c.msg_ast = mast
            c.msg_cost = costmod.estimate(mast, self_type)
    return c


_CACHE = {}


def _compiled_rules(node, is_root):
    """Compiled rules of a schema node (cached per node object)."""
    rules = node.get("x-kubernetes-validations") or []
    key = (id(node), is_root)
    fp = json.dumps(rules, sort_keys=True)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is node and hit[3] == fp:
        return hit[1], hit[2]
    st = decl_type(node, is_root, _SELF_TYPE_NAME)
    comp = [compile_rule(r, st) if st is not None else Compiled() for r in rules]
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = (node, comp, st, fp)
    return comp, st


# --- CRD create/update validation -----------------------------------------------------------------

def _valid_field_path(path, s):
    """apiextensions ValidFieldPath: '.a.b', ".a['x.y']" through object properties / map keys."""
    if not path.startswith(".") and not path.startswith("["):
        return False
    i = 0
    n = len(path)
    cur = s
    while i < n:
        if not isinstance(cur, dict):
            return False
        if path[i] == ".":
            j = i + 1
            while j < n and path[j] not in ".[":
                j += 1
            name = path[i + 1:j]
            if not name:
                return False
            i = j
        elif path.startswith("['", i):
            j = path.find("']", i + 2)
            if j < 0:
                return False
            name = path[i + 2:j]
            i = j + 2
        else:
            return False
        props = cur.get("properties") or {}
        if name in props:
            cur = props[name]
        elif isinstance(cur.get("additionalProperties"), dict):
            cur = cur["additionalProperties"]
        else:
            return False
    return True


def _has_newline(s):
    return "\n" in s or "\r" in s


def validate_rules(schema, path_prefix="spec.validation.openAPIV3Schema"):
    """See the module docstring."""
    state = {"schema": [], "cel": [], "total": 0, "expensive": []}
    if isinstance(schema, dict):
        _validate_node(schema, path_prefix, True, None, 1, state)
    out = state["schema"] + state["cel"]
    if state["total"] > costmod.STATIC_ESTIMATED_CRD_COST_LIMIT:
        for path, _c in state["expensive"]:
            out.append(Problem("FieldValueForbidden", path, "Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema", "total"))
        out.append(Problem("FieldValueForbidden", path_prefix, "Forbidden: " + cost_error_message(
            "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema", state["total"],
            costmod.STATIC_ESTIMATED_CRD_COST_LIMIT), "total"))
    return out


def _observe(state, path, cost):
    state["total"] = min(state["total"] + cost, costmod.MAXU)
    if cost < costmod.STATIC_ESTIMATED_CRD_COST_LIMIT // 100:
        return
    state["expensive"].append((path, cost))
    state["expensive"].sort(key=lambda e: -e[1])
    del state["expensive"][4:]


def _max_elements(s):
    t = s.get("type")
    if t == "object":
        if s.get("additionalProperties") is not None and not isinstance(s.get("additionalProperties"), bool):
            return s["maxProperties"] if isinstance(s.get("maxProperties"), int) else None
        return 1
    if t == "array":
        return s["maxItems"] if isinstance(s.get("maxItems"), int) else None
    return 1


def _validate_node(s, fld, is_root, uncorrelatable, card, state):
    n_schema_before = len(state["schema"])
    me = _max_elements(s) if card is not None else None
    child_card = None if (card is None or me is None) else min(card * max(me, 0), costmod.MAXU)
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        _validate_node(ap, fld + ".additionalProperties", bool(ap.get("x-kubernetes-embedded-resource")),
                       uncorrelatable, child_card, state)
    for name, sub in (s.get("properties") or {}).items():
        if isinstance(sub, dict) and not (is_root and name == "metadata"):
            _validate_node(sub, "%s.properties[%s]" % (fld, name), bool(sub.get("x-kubernetes-embedded-resource")),
                           uncorrelatable, child_card, state)
    items = s.get("items")
    if isinstance(items, dict):
        unc = uncorrelatable
        if unc is None and s.get("x-kubernetes-list-type") != "map":
            unc = fld
        _validate_node(items, fld + ".items", bool(items.get("x-kubernetes-embedded-resource")), unc, child_card, state)
    rules = s.get("x-kubernetes-validations")
    if not rules or not isinstance(rules, list):
        return
    vpath = fld + ".x-kubernetes-validations"
    for i, rule in enumerate(rules):
        rp = "%s[%d]" % (vpath, i)
        text = rule.get("rule") or ""
        msg = rule.get("message") or ""
        mexpr = rule.get("messageExpression") or ""
        fp = rule.get("fieldPath") or ""
        add = state["schema"].append
        if not text.strip():
            add(Problem("FieldValueRequired", rp + ".rule", "Required value: rule is not specified", "schema"))
        elif msg and not msg.strip():
            add(Problem("FieldValueInvalid", rp + ".message", "Invalid value: %s: message must be non-empty if specified" % go_quote(msg), "schema"))
        elif _has_newline(msg.strip()):
            add(Problem("FieldValueInvalid", rp + ".message", "Invalid value: %s: message must not contain line breaks" % go_quote(msg), "schema"))
        elif _has_newline(text.strip()) and not msg.strip():
            add(Problem("FieldValueRequired", rp + ".message", "Required value: message must be specified if rule contains line breaks", "schema"))
        if mexpr and not mexpr.strip():
            add(Problem("FieldValueRequired", rp + ".messageExpression", "Required value: messageExpression must be non-empty if specified", "schema"))
        reason = rule.get("reason")
        if reason is not None and reason not in SUPPORTED_REASONS:
            add(Problem("FieldValueNotSupported", rp + ".reason", "Unsupported value: %s: supported values: %s" % (
                go_quote(str(reason)), ", ".join(go_quote(r) for r in SUPPORTED_REASONS)), "schema"))
        if fp and not fp.strip():
            add(Problem("FieldValueInvalid", rp + ".fieldPath", "Invalid value: %s: fieldPath must be non-empty if specified" % go_quote(fp), "schema"))
        if _has_newline(fp):
            add(Problem("FieldValueInvalid", rp + ".fieldPath", "Invalid value: %s: fieldPath must not contain line breaks" % go_quote(fp), "schema"))
        if fp and not _valid_field_path(fp, s):
            add(Problem("FieldValueInvalid", rp + ".fieldPath", "Invalid value: %s: fieldPath must be a valid path" % go_quote(fp), "schema"))
    if len(state["schema"]) != n_schema_before:
        return
    comp, st = _compiled_rules(s, is_root)
    if st is None:
        return
    ncard = card if card is not None else max_cardinality(st.min_size)
    cel = state["cel"].append
    for i, (rule, cr) in enumerate(zip(rules, comp)):
        rp = "%s[%d]" % (vpath, i)
        ecost = 0 if cr.max_cost == 0 else min(cr.max_cost * ncard, costmod.MAXU)
        if ecost > costmod.STATIC_ESTIMATED_COST_LIMIT:
            cel(Problem("FieldValueForbidden", rp + ".rule", "Forbidden: " + cost_error_message(
                "estimated rule cost", ecost, costmod.STATIC_ESTIMATED_COST_LIMIT)))
        _observe(state, rp + ".rule", ecost)
        if cr.error is not None:
            cel(Problem("FieldValueInvalid", rp + ".rule", "Invalid value: %s: %s" % (rule_dump(rule), cr.error)))
        if cr.msg_error is not None:
            cel(Problem("FieldValueInvalid", rp + ".messageExpression", "Invalid value: %s: %s" % (rule_dump(rule), cr.msg_error)))
        elif cr.msg_cost is not None:
            if cr.msg_cost > costmod.STATIC_ESTIMATED_COST_LIMIT:
                cel(Problem("FieldValueForbidden", rp + ".messageExpression", "Forbidden: " + cost_error_message(
                    "estimated messageExpression cost", cr.msg_cost, costmod.STATIC_ESTIMATED_COST_LIMIT)))
            _observe(state, rp + ".messageExpression", cr.msg_cost)
        if cr.transition and uncorrelatable is not None:
            cel(Problem("FieldValueInvalid", rp + ".rule", "Invalid value: %s: oldSelf cannot be used on the uncorrelatable portion of the schema within %s" % (
                go_quote(rule.get("rule") or ""), uncorrelatable)))


# --- custom resource evaluation -------------------------------------------------------------------

def _child(path, key):
    return key if not path else path + "." + key


def evaluate(new_obj, old_obj, schema, path=None, is_root=True):
    """See the module docstring."""
    out = []
    if isinstance(schema, dict):
        _eval_node(new_obj, old_obj, schema, path or "", is_root, out)
    return out


def _rule_error_string(rule):
    if rule.get("message"):
        return rule["message"].strip()
    return (rule.get("rule") or "").strip()


def _cause(reason, value, detail, fld):
    f = fld or "<nil>"
    if reason == "FieldValueForbidden":
        return {"reason": reason, "message": "Forbidden: " + detail, "field": f}
    if reason == "FieldValueRequired":
        return {"reason": reason, "message": "Required value: " + detail, "field": f}
    if reason == "FieldValueDuplicate":
        return {"reason": reason, "message": "Duplicate value: " + value, "field": f}
    return {"reason": "FieldValueInvalid", "message": "Invalid value: %s: %s" % (value, detail), "field": f}


def _run_rules(v, old, s, fld, is_root, out):
    rules = s.get("x-kubernetes-validations")
    if not rules:
        return
    comp, st = _compiled_rules(s, is_root)
    if st is None:
        return
    value = '"%s"' % (s.get("type") or "")
    act = {"self": to_cel(v, st)}
    if old is not None:
        act["oldSelf"] = to_cel(old, st)
    cur = fld
    for rule, cr in zip(rules, comp):
        if cr.ast is None:
            continue
        if cr.transition and old is None:
            continue
        try:
            res = _eval(cr.ast, act)
        except EvalError as e:
            msg = str(e)
            if msg.startswith("no such overload"):
                detail = "'%s': call arguments did not match a supported operator, function or macro signature for rule: %s" % (msg, _rule_error_string(rule))
            elif msg.startswith("operation cancelled: actual cost limit exceeded"):
                detail = "rule evaluation exceeded cost budget: %s" % _rule_error_string(rule)
            else:
                detail = "%s evaluating rule: %s" % (msg, _rule_error_string(rule))
            out.append(_cause("FieldValueInvalid", value, detail, cur))
            continue
        if res is True:
            continue
        fp = (rule.get("fieldPath") or "").strip()
        if fp:
            cur = _child(cur, fp.lstrip("."))   # kube-apiserver 1.28.7 keeps this for later rules (bug)
        detail = ""
        if cr.msg_ast is not None:
            try:
                m = _eval(cr.msg_ast, act)
                if isinstance(m, str) and m.strip() and "\n" not in m and "\r" not in m:
                    detail = m
            except EvalError:
                pass
        if not detail:
            detail = rule.get("message") or ("failed rule: " + _rule_error_string(rule))
        out.append(_cause(rule.get("reason"), value, detail, cur))


def _eval_node(v, old, s, fld, is_root, out):
    if v is None or not isinstance(s, dict):
        return
    _run_rules(v, old, s, fld, is_root, out)
    if isinstance(v, list):
        items = s.get("items")
        if not isinstance(items, dict):
            return
        olds = None
        if s.get("x-kubernetes-list-type") == "map" and isinstance(old, list):
            keys = s.get("x-kubernetes-list-map-keys") or []
            olds = {}
            for o in old:
                if isinstance(o, dict):
                    olds.setdefault(json.dumps([o.get(k) for k in keys]), o)
        for i, x in enumerate(v):
            ox = None
            if olds is not None and isinstance(x, dict):
                ox = olds.get(json.dumps([x.get(k) for k in s.get("x-kubernetes-list-map-keys") or []]))
            _eval_node(x, ox, items, "%s[%d]" % (fld, i), bool(items.get("x-kubernetes-embedded-resource")), out)
    elif isinstance(v, dict):
        o = old if isinstance(old, dict) else {}
        ap = s.get("additionalProperties")
        if isinstance(ap, dict):
            for k in sorted(v):
                _eval_node(v[k], o.get(k), ap, "%s[%s]" % (fld, k), bool(ap.get("x-kubernetes-embedded-resource")), out)
            return
        props = s.get("properties") or {}
        for k in sorted(v):
            if k in props and not (is_root and k == "metadata"):
                sub = props[k]
                _eval_node(v[k], o.get(k), sub, _child(fld, k), bool(isinstance(sub, dict) and sub.get("x-kubernetes-embedded-resource")), out)

