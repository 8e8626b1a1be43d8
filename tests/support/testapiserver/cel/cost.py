"""Static worst-case cost estimation (cel-go checker/cost.go + Kubernetes' library/cost.go estimator).

Only the maximum of cel-go's [min, max] ranges is tracked: Kubernetes compares MaxCost with its limits.
Sizes come from the Kubernetes schema bounds carried on the checked types (`T.max_elements`), which is
what the apiextensions size estimator derives from maxItems/maxLength/maxProperties (or from the
maximum request size when a bound is missing).
"""
import math

MAXU = (1 << 64) - 1
STRING_TRAVERSAL = 0.1
REGEX_STRING_LENGTH = 0.25
CREATE_LIST_BASE = 10
CREATE_MAP_BASE = 30

# Kubernetes limits (k8s.io/apiserver/pkg/apis/cel/config.go, apiextensions validation)
PER_CALL_LIMIT = 1000000
RUNTIME_CEL_COST_BUDGET = 10000000
STATIC_ESTIMATED_COST_LIMIT = 10000000
STATIC_ESTIMATED_CRD_COST_LIMIT = 100000000


def add(*xs):
    s = 0
    for x in xs:
        s += x
    return min(s, MAXU)


def mul(a, b):
    return min(a * b, MAXU)


def factor(x, f):
    if x >= MAXU:
        return MAXU
    return min(int(math.ceil(x * f)), MAXU)


_SCALAR = {"int", "uint", "double", "bool", "duration", "timestamp", "null"}


class Coster:
    def __init__(self, root=None):
        self.sizes = {}   # node id -> max size
        self.rooted = set()  # ids of nodes with a field path from self/oldSelf
        self.locals = {}  # comprehension variable -> rooted?
        self.root = root

    def size(self, n):
        if n.id in self.sizes:
            return self.sizes[n.id]
        if n.kind == "const":
            v = n.value
            if isinstance(v, (str, bytes)):
                return len(v)
        if n.kind == "list":
            return len(n.elems)
        if n.kind == "map":
            return len(n.entries)
        t = n.type
        if n.id in self.rooted:
            # Kubernetes' size estimator: nodes reachable from self/oldSelf get their schema bound
            # (MaxElements, 0 for objects and scalars)
            return t.max_elements if (t is not None and t.max_elements is not None) else 0
        if n.kind == "ident" and n.name not in self.locals and self.root is not None:
            # the estimator strips the first path element and answers the root's bound
            return self.root.max_elements or 0
        if t is not None:
            if t.max_elements is not None:
                return t.max_elements
            if t.kind in _SCALAR or t.kind == "type":
                return 1
        return MAXU

    def elem_type(self, n):
        t = n.type
        if t is not None and t.kind == "list":
            return t.params[0]
        return None

    def cost(self, n):
        return getattr(self, "_" + n.kind)(n)

    def _const(self, n):
        return 0

    def _ident(self, n):
        if n.name in self.locals:
            if self.locals[n.name]:
                self.rooted.add(n.id)
        elif n.name in ("self", "oldSelf"):
            self.rooted.add(n.id)
        return 1

    def _list(self, n):
        return add(CREATE_LIST_BASE, *[self.cost(e) for e in n.elems])

    def _map(self, n):
        return add(CREATE_MAP_BASE, *[add(self.cost(k), self.cost(v)) for k, v, _ in n.entries])

    def _select(self, n):
        c = self.cost(n.operand)
        if n.operand.id in self.rooted:
            self.rooted.add(n.id)
        if n.test_only:
            return add(1, c)
        ot = n.operand.type
        if ot is not None and ot.kind in ("map", "object", "param"):
            c = add(c, 1)
        return c

    def _comp(self, n):
        rc = self.cost(n.range)
        cnt = self.size(n.range)
        saved = self.locals.get(n.var, None)
        self.locals[n.var] = n.range.id in self.rooted
        try:
            return self._comp_body(n, rc, cnt)
        finally:
            if saved is None:
                self.locals.pop(n.var, None)
            else:
                self.locals[n.var] = saved

    def _comp_body(self, n, rc, cnt):
        if n.macro == "map" and n.body2 is not None:
            pc = self.cost(n.body2)
            bc = self.cost(n.body)
            step = add(pc, max(add(bc, 12), 1))
            cond = 0
        else:
            bc = self.cost(n.body)
            if n.macro == "all":
                cond, step = 2, add(1, bc)
            elif n.macro == "exists":
                cond, step = 3, add(1, bc)
            elif n.macro == "exists_one":
                cond, step = 0, add(bc, 2)
            elif n.macro == "map":
                cond, step = 0, add(bc, 12)
            else:  # filter
                cond, step = 0, add(bc, 13)
        result = 2 if n.macro == "exists_one" else 1
        if n.macro in ("map", "filter"):
            self.sizes[n.id] = cnt
        return add(rc, result, mul(cnt, add(cond, step)))

    def _call(self, n):
        fn = n.fn
        args = n.args
        argc = [self.cost(a) for a in args]
        tc = self.cost(n.target) if n.target is not None else 0
        ids = n.overloads or []
        if not ids:
            return 0
        best = 0
        rsize = None
        for oid in ids:
            c, rs = self.fn_cost(n, fn, oid, argc)
            best = max(best, c)
            if rs is not None:
                rsize = rs if rsize is None else max(rsize, rs)
            if oid in ("index_list", "index_map") and args[0].id in self.rooted:
                self.rooted.add(n.id)
            if oid in ("index_list", "index_map"):
                t = args[0].type
                if t is not None and t.kind in ("list", "map"):
                    et = t.params[-1]
                    if et.max_elements is not None:
                        rsize = et.max_elements
        if rsize is not None:
            self.sizes[n.id] = rsize
        return add(tc, best)

    def fn_cost(self, n, fn, oid, argc):
        args = n.args
        target = n.target
        argsum = add(*argc)
        # Kubernetes library estimator first
        if fn in ("isSorted", "sum", "max", "min", "indexOf", "lastIndexOf") and target is not None:
            et = self.elem_type(target)
            if et is not None:
                el = 1
                if et.kind in ("string", "bytes"):
                    el = add(el, factor(et.max_elements if et.max_elements is not None else MAXU, STRING_TRAVERSAL))
                return add(mul(self.size(target), el), argsum), None
            return add(factor(self.size(target), STRING_TRAVERSAL), argsum), None
        if fn in ("lowerAscii", "upperAscii", "substring", "trim") and target is not None:
            sz = self.size(target)
            return add(factor(sz, STRING_TRAVERSAL), argsum), sz
        if fn == "replace" and target is not None:
            sz = self.size(target)
            return add(factor(sz, 2 * STRING_TRAVERSAL), argsum), MAXU
        if fn == "split" and target is not None:
            sz = self.size(target)
            return add(factor(sz, 2 * STRING_TRAVERSAL), argsum), sz
        if fn == "join" and target is not None:
            ls = self.size(target)
            et = self.elem_type(target)
            es = et.max_elements if (et is not None and et.max_elements is not None) else MAXU
            sz = mul(ls, es)
            if args:
                sz = add(sz, mul(self.size(args[0]), max(ls - 1, 0)))
            return add(factor(sz, STRING_TRAVERSAL), argsum), sz
        if fn in ("find", "findAll") and target is not None and args:
            sz = self.size(target)
            strc = factor(add(sz, 1), STRING_TRAVERSAL)
            rec = factor(self.size(args[0]), REGEX_STRING_LENGTH)
            return add(mul(strc, rec), argsum), sz
        if fn == "isURL" and args:
            return add(factor(self.size(args[0]), STRING_TRAVERSAL), argsum), None
        # cel-go defaults
        if oid == "string_to_bytes":
            sz = self.size(args[0])
            return add(factor(sz, STRING_TRAVERSAL), argsum), mul(sz, 4)
        if oid in ("starts_with_string", "ends_with_string"):
            return add(factor(self.size(args[0]), STRING_TRAVERSAL), argsum), None
        if oid == "in_list":
            return add(self.size(args[1]), argsum), None
        if oid == "matches_string" or (oid == "matches" and len(args) == 2):
            s_node, re_node = (target, args[0]) if target is not None else (args[0], args[1])
            strc = factor(add(self.size(s_node), 1), STRING_TRAVERSAL)
            rec = factor(self.size(re_node), REGEX_STRING_LENGTH)
            return add(mul(strc, rec), argsum), None
        if oid == "contains_string":
            strc = factor(self.size(target), STRING_TRAVERSAL)
            subc = factor(self.size(args[0]), STRING_TRAVERSAL)
            return add(mul(strc, subc), argsum), None
        if oid in ("logical_and", "logical_or"):
            return add(argc[0], argc[1]), None
        if oid == "conditional":
            return add(argc[0], max(argc[1], argc[2])), max(self.size(args[1]), self.size(args[2]))
        if oid in ("add_string", "add_bytes", "add_list"):
            rs = add(self.size(args[0]), self.size(args[1]))
            if oid == "add_list":
                return add(1, argsum), rs
            return add(factor(rs, STRING_TRAVERSAL), argsum), rs
        if oid in ("less_string", "greater_string", "less_equals_string", "greater_equals_string", "less_bytes",
                   "greater_bytes", "less_equals_bytes", "greater_equals_bytes", "equals", "not_equals"):
            sm = min(self.size(args[0]), self.size(args[1]))
            return add(factor(sm, STRING_TRAVERSAL), argsum), None
        return add(1, argsum), None


def estimate(ast, root=None):
    """Worst-case (max) cost of a checked expression; root is the type of self."""
    return Coster(root).cost(ast)
