"""CEL type checker (the parts of cel-go's checker that CRD rules exercise), with cel-go's messages."""
from . import celtypes as ct
from .celtypes import BOOL, DYN, ERROR, NULL, fmt
from .decls import FUNCS, TYPE_IDENTS


class Checker:
    def __init__(self, variables, issues):
        self.vars = dict(variables)   # name -> T
        self.scopes = []
        self.issues = issues
        self.refs = set()             # identifiers referenced (e.g. 'oldSelf')

    def err(self, node, msg):
        self.issues.add(node.offset, msg)

    def check(self, n):
        t = getattr(self, "_" + n.kind)(n)
        n.type = t
        return t

    def _const(self, n):
        v = n.value
        if v is None:
            return NULL
        if isinstance(v, bool):
            return BOOL
        if isinstance(v, ct.T):
            return v
        from .syntax import UInt
        if isinstance(v, UInt):
            return ct.UINT
        if isinstance(v, int):
            return ct.INT
        if isinstance(v, float):
            return ct.DOUBLE
        if isinstance(v, bytes):
            return ct.BYTES
        return ct.STRING

    def lookup(self, name):
        for sc in reversed(self.scopes):
            if name in sc:
                return sc[name]
        if name in self.vars:
            self.refs.add(name)
            return self.vars[name]
        if name in TYPE_IDENTS:
            t = TYPE_IDENTS[name]
            if name == "null_type":
                return ct.Type(NULL)
            if name == "type":
                return ct.Type(ct.Type())
            return ct.Type(t)
        return None

    def _ident(self, n):
        name = n.name.lstrip(".")
        t = self.lookup(name)
        if t is None:
            self.err(n, "undeclared reference to '%s' (in container '')" % name)
            return ERROR
        return t

    def _select(self, n):
        ot = self.check(n.operand)
        k = ot.kind
        if k == "error":
            return ERROR
        if k == "object":
            f = ot.fields.get(n.field)
            if f is None:
                self.err(n, "undefined field '%s'" % n.field)
                return ERROR
            return BOOL if n.test_only else f[0]
        if k == "map":
            return BOOL if n.test_only else ot.params[1]
        if k in ("dyn", "param"):
            return BOOL if n.test_only else DYN
        self.err(n, "type '%s' does not support field selection" % fmt(ot))
        return ERROR

    def _list(self, n):
        et = None
        for e in n.elems:
            t = self.check(e)
            if et is None:
                et = t
            elif not (et == t) and t.kind != "error" and et.kind != "error":
                # HomogeneousAggregateLiterals
                if et.kind != "dyn" and t.kind != "dyn":
                    self.err(e, "expected type '%s' but found '%s'" % (fmt(et), fmt(t)))
                    return ERROR
                et = DYN
        return ct.List(et or DYN)

    def _map(self, n):
        kt = vt = None
        for k, v, _ in n.entries:
            a, b = self.check(k), self.check(v)
            if kt is None:
                kt, vt = a, b
            else:
                if not (kt == a):
                    self.err(k, "expected type '%s' but found '%s'" % (fmt(kt), fmt(a)))
                    return ERROR
                if not (vt == b):
                    self.err(v, "expected type '%s' but found '%s'" % (fmt(vt), fmt(b)))
                    return ERROR
        return ct.Map(kt or DYN, vt or DYN)

    def _comp(self, n):
        rt = self.check(n.range)
        if rt.kind == "list":
            vt = rt.params[0]
        elif rt.kind == "map":
            vt = rt.params[0]
        elif rt.kind in ("dyn", "error", "param"):
            vt = DYN
        else:
            self.err(n.range, "expression of type '%s' cannot be range of a comprehension (must be list, map, or dynamic)" % fmt(rt))
            vt = ERROR
        self.scopes.append({n.var: vt})
        try:
            if n.macro == "map" and n.body2 is not None:
                pt = self.check(n.body2)
                self._want_bool(n, pt, "_?_:_")
            bt = self.check(n.body)
        finally:
            self.scopes.pop()
        if n.macro in ("all", "exists", "exists_one", "filter"):
            self._want_bool(n, bt, {"all": "_&&_", "exists": "_||_"}.get(n.macro, "_?_:_"))
        if rt.kind == "error":
            return ERROR
        if n.macro == "map":
            return ct.List(bt)
        if n.macro == "filter":
            return ct.List(vt)
        return BOOL

    def _want_bool(self, n, t, fn):
        if t.kind in ("bool", "dyn", "error", "param"):
            return
        if fn == "_?_:_":
            self.err(n, "found no matching overload for '_?_:_' applied to '(%s, int, int)'" % fmt(t))
        else:
            self.err(n, "found no matching overload for '%s' applied to '(bool, %s)'" % (fn, fmt(t)))

    def _call(self, n):
        tt = self.check(n.target) if n.target is not None else None
        ats = [self.check(a) for a in n.args]
        fn = n.fn
        decls = FUNCS.get(fn)
        if decls is None:
            self.err(n, "undeclared reference to '%s' (in container '')" % fn)
            return ERROR
        if (tt is not None and tt.kind == "error") or any(a.kind == "error" for a in ats):
            return ERROR
        member = tt is not None
        actual = ([tt] if member else []) + ats
        result = None
        ids = []
        for oid, is_member, formals, rtype in decls:
            if is_member != member or len(formals) != len(actual):
                continue
            m = {}
            if all(ct.assignable(f, a, m) for f, a in zip(formals, actual)):
                r = ct.substitute(rtype, m)
                if r.kind == "param":
                    r = DYN
                ids.append(oid)
                if result is None:
                    result = r
                elif not (result == r):
                    result = DYN
        if not ids:
            if member:
                sig = "%s.(%s)" % (fmt(tt), ", ".join(fmt(a) for a in ats))
            else:
                sig = "(%s)" % ", ".join(fmt(a) for a in ats)
            self.err(n, "found no matching overload for '%s' applied to '%s'" % (fn, sig))
            return ERROR
        n.overloads = ids
        return result


def check(ast, variables, issues):
    c = Checker(variables, issues)
    t = c.check(ast)
    return t, c.refs
