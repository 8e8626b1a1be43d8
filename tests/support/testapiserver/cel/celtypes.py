"""CEL types for the checker (cel-go's names, as printed in 'found no matching overload' errors)."""


class T:
    __slots__ = ("kind", "params", "name", "fields", "max_elements", "min_size")

    def __init__(self, kind, params=(), name=None, fields=None):
        self.kind = kind
        self.params = tuple(params)
        self.name = name
        self.fields = fields          # object: {escaped name: (T, json key)}
        self.max_elements = None      # Kubernetes size bound (strings, bytes, lists, maps, dyn)
        self.min_size = None          # Kubernetes minimum serialized size

    def __eq__(self, other):
        return (isinstance(other, T) and self.kind == other.kind and self.params == other.params
                and self.name == other.name)

    def __hash__(self):
        return hash((self.kind, self.params, self.name))

    def __repr__(self):
        return fmt(self)


def fmt(t):
    k = t.kind
    if k == "list":
        return "list(%s)" % fmt(t.params[0])
    if k == "map":
        return "map(%s, %s)" % (fmt(t.params[0]), fmt(t.params[1]))
    if k == "type":
        return "type(%s)" % fmt(t.params[0]) if t.params else "type"
    if k in ("object", "param"):
        return t.name
    return {"null": "null_type", "error": "*error*", "duration": "google.protobuf.Duration",
            "timestamp": "google.protobuf.Timestamp"}.get(k, k)


INT, UINT, DOUBLE, BOOL, STRING, BYTES = T("int"), T("uint"), T("double"), T("bool"), T("string"), T("bytes")
NULL, DYN, ERROR = T("null"), T("dyn"), T("error")
DURATION, TIMESTAMP = T("duration"), T("timestamp")


def List(e):
    return T("list", [e])


def Map(k, v):
    return T("map", [k, v])


def Type(t=None):
    return T("type", [t] if t is not None else [])


def Param(name):
    return T("param", name=name)


A, B = Param("A"), Param("B")


def is_dyn_or_error(t):
    return t.kind in ("dyn", "error")


# --- unification (a small version of cel-go's isAssignable with type parameters) ----------------

def substitute(t, m):
    if t.kind == "param":
        if t.name in m:
            return substitute(m[t.name], m)
        return t
    if t.params:
        ps = [substitute(p, m) for p in t.params]
        if all(a is b for a, b in zip(ps, t.params)):
            return t
        return T(t.kind, ps, t.name, t.fields)
    return t


def assignable(formal, actual, m):
    """Can `actual` be passed where `formal` is expected? Binds type params in m (mutated on success)."""
    trial = dict(m)
    if _assign(formal, actual, trial):
        m.clear()
        m.update(trial)
        return True
    return False


def _assign(f, a, m):
    if f.kind == "param":
        if f.name in m:
            bound = m[f.name]
            if _assign(bound, a, m):
                return True
            if _assign(a, bound, m):  # widen to the more general one
                m[f.name] = a
                return True
            return False
        m[f.name] = a
        return True
    if a.kind == "param":
        if a.name in m:
            return _assign(f, m[a.name], m)
        m[a.name] = f
        return True
    if f.kind in ("dyn", "error") or a.kind in ("dyn", "error"):
        return True
    if f.kind != a.kind:
        # null is assignable to wrapper / message / duration / timestamp types only
        if a.kind == "null" and f.kind in ("object", "duration", "timestamp"):
            return True
        return False
    if f.kind == "object":
        return f.name == a.name
    if len(f.params) != len(a.params):
        return len(f.params) == 0 or len(a.params) == 0
    return all(_assign(x, y, m) for x, y in zip(f.params, a.params))


def most_general(t1, t2):
    if t1 == t2:
        return t1
    if t1.kind == "dyn" or t2.kind == "dyn":
        return DYN
    return DYN
