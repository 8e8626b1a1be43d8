"""Label selectors (=, ==, !=, in, notin, exists, !key) and field selectors, with apimachinery's errors."""
import re

from errors import bad_request


class SelectorError(Exception):
    pass


_TOKEN = re.compile(r"\s*(\(|\)|,|==|=|!=|!|[^\s(),=!]+)")


def _tokens(text):
    pos = 0
    out = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip() == "":
                break
            raise SelectorError("unable to parse requirement: invalid character")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_label_selector(text):
    """Returns a list of (key, op, values). op in: eq, neq, in, notin, exists, notexists."""
    reqs = []
    if text is None or text.strip() == "":
        return reqs
    toks = _tokens(text)
    i = 0

    def peek():
        return toks[i] if i < len(toks) else None

    while i < len(toks):
        tok = toks[i]
        if tok == "!":
            i += 1
            key = peek()
            if key is None or key in ("(", ")", ",", "=", "==", "!="):
                raise SelectorError("unable to parse requirement: found '%s', expected: identifier" % (key or ""))
            i += 1
            reqs.append((key, "notexists", []))
        else:
            key = tok
            if key in ("(", ")", ",", "=", "==", "!="):
                raise SelectorError("unable to parse requirement: found '%s', expected: !, identifier" % key)
            i += 1
            op = peek()
            if op is None or op == ",":
                reqs.append((key, "exists", []))
            elif op in ("=", "=="):
                i += 1
                val = peek()
                if val is None or val == ",":
                    reqs.append((key, "eq", [""]))
                else:
                    i += 1
                    reqs.append((key, "eq", [val]))
            elif op == "!=":
                i += 1
                val = peek()
                if val is None or val == ",":
                    reqs.append((key, "neq", [""]))
                else:
                    i += 1
                    reqs.append((key, "neq", [val]))
            elif op in ("in", "notin"):
                i += 1
                if peek() != "(":
                    raise SelectorError("unable to parse requirement: found '%s' expected: '('" % (peek() or ""))
                i += 1
                vals = []
                while True:
                    t = peek()
                    if t is None:
                        raise SelectorError("unable to parse requirement: found '', expected: ',', ')' or identifier")
                    if t == ")":
                        i += 1
                        break
                    if t == ",":
                        i += 1
                        continue
                    vals.append(t)
                    i += 1
                reqs.append((key, op, vals))
            else:
                raise SelectorError("unable to parse requirement: found '%s', expected: in, notin, =, ==, !=, gt, lt" % op)
        if i < len(toks):
            if toks[i] != ",":
                raise SelectorError("found '%s', expected: ',' or 'end of string'" % toks[i])
            i += 1
    for key, _, _ in reqs:
        _validate_key(key)
    return reqs


_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _validate_key(key):
    name = key.split("/", 1)[-1]
    if not name or len(name) > 63 or not _KEY_NAME.match(name):
        raise SelectorError("unable to parse requirement: invalid label key \"%s\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')" % key)


def label_matches(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "eq" and not (has and v == vals[0]):
            return False
        if op == "neq" and has and v == vals[0]:
            return False
        if op == "in" and not (has and v in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "notexists" and has:
            return False
    return True


def parse_field_selector(text, supported):
    """Returns [(field, op, value)]; op 'eq' or 'neq'. `supported` maps field label -> getter."""
    out = []
    if text is None or text.strip() == "":
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            f, v = part.split("!=", 1)
            op = "neq"
        elif "==" in part:
            f, v = part.split("==", 1)
            op = "eq"
        elif "=" in part:
            f, v = part.split("=", 1)
            op = "eq"
        else:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (text, part))
        f = f.strip()
        if f not in supported:
            raise bad_request("field label not supported: %s" % f)
        out.append((f, op, v.strip()))
    return out


def field_matches(reqs, obj, supported):
    for f, op, v in reqs:
        actual = supported[f](obj)
        if actual is None:
            actual = ""
        if op == "eq" and str(actual) != v:
            return False
        if op == "neq" and str(actual) == v:
            return False
    return True


def _get_path(*path):
    def get(obj):
        cur = obj
        for p in path:
            if not isinstance(cur, dict):
                return ""
            cur = cur.get(p)
        return cur if cur is not None else ""
    return get


META_FIELDS = {"metadata.name": _get_path("metadata", "name"),
               "metadata.namespace": _get_path("metadata", "namespace")}

EVENT_FIELDS = dict(META_FIELDS)
for _f in ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
           "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath"):
    EVENT_FIELDS[_f] = _get_path(*_f.split("."))
EVENT_FIELDS["reason"] = _get_path("reason")
EVENT_FIELDS["reportingComponent"] = _get_path("reportingComponent")
EVENT_FIELDS["source"] = _get_path("source", "component")
EVENT_FIELDS["type"] = _get_path("type")

SECRET_FIELDS = dict(META_FIELDS)
SECRET_FIELDS["type"] = _get_path("type")

NAMESPACE_FIELDS = dict(META_FIELDS)
NAMESPACE_FIELDS["status.phase"] = _get_path("status", "phase")
