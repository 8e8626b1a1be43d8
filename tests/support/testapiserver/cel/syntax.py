"""CEL lexer, parser and macro expansion (the cel-go v0.16 grammar as Kubernetes 1.28 uses it).

The parser produces `Node`s; every node has an `id` and an `offset` (character offset into the
expression, used for `ERROR: <input>:L:C:` locations exactly where cel-go puts them: a select at
its '.', a call at its '(', an index at its '[', an operator at the operator).
Syntax errors are worded like cel-go's ANTLR errors for the cases Kubernetes users hit.
"""

EXPR_START = ("{'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, "
              "STRING, BYTES, IDENTIFIER}")

KEYWORDS = {"true", "false", "null", "in"}
# reserved by the CEL spec: usable as field names after '.', not as identifiers/functions
RESERVED = {"as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop",
            "package", "namespace", "return", "var", "void", "while"}

ACCU = "__result__"


class Issues:
    """A list of errors with cel-go's display format."""

    def __init__(self, source):
        self.source = source
        self.errors = []  # (offset, message)

    def add(self, offset, message):
        self.errors.append((offset, message))

    def __bool__(self):
        return bool(self.errors)

    def location(self, offset):
        line, col = 1, 0
        for ch in self.source[:offset]:
            if ch == "\n":
                line += 1
                col = 0
            else:
                col += 1
        return line, col

    def to_display_string(self):
        lines = self.source.split("\n")
        out = []
        for offset, msg in sorted(self.errors, key=lambda e: self.location(e[0])):
            line, col = self.location(offset)
            s = "ERROR: <input>:%d:%d: %s" % (line, col + 1, msg)
            if 0 < line <= len(lines):
                snippet = lines[line - 1]
                s += "\n | " + snippet.replace("\t", " ") + "\n | " + "." * min(col, len(snippet)) + "^"
            out.append(s)
        return "\n".join(out)


class Node:
    __slots__ = ("kind", "id", "offset", "value", "name", "operand", "field", "test_only", "fn", "target",
                 "args", "elems", "entries", "macro", "var", "range", "body", "body2", "type", "overloads")

    def __init__(self, kind, offset, **kw):
        self.kind = kind
        self.id = 0
        self.offset = offset
        self.value = self.name = self.operand = self.field = self.fn = self.target = None
        self.macro = self.var = self.range = self.body = self.body2 = None
        self.test_only = False
        self.args = self.elems = self.entries = None
        self.type = None
        self.overloads = None
        for k, v in kw.items():
            setattr(self, k, v)

    def __repr__(self):
        return "Node(%s %r)" % (self.kind, self.name or self.fn or self.value or self.field or self.macro)


class UInt(int):
    """A CEL uint value (Python int subclass so arithmetic works; results are re-wrapped)."""

    def __repr__(self):
        return "%du" % int(self)


class SyntaxErr(Exception):
    pass


# --- lexer ---------------------------------------------------------------------------------------

class Tok:
    __slots__ = ("kind", "text", "offset", "value")

    def __init__(self, kind, text, offset, value=None):
        self.kind, self.text, self.offset, self.value = kind, text, offset, value

    def display(self):
        return "<EOF>" if self.kind == "EOF" else self.text


PUNCT = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",",
         "[", "]", "{", "}", "(", ")"]

_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'",
        '"': '"', "`": "`", "?": "?"}


def _unescape(body, is_bytes, issues, offset):
    out = []  # str chars, or ints for bytes
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            if is_bytes:
                out.extend(c.encode("utf-8"))
            else:
                out.append(c)
            i += 1
            continue
        i += 1
        if i >= n:
            raise SyntaxErr("invalid escape")
        c = body[i]
        if c in _ESC:
            ch = _ESC[c]
            out.extend([ord(ch)] if is_bytes else [ch])
            i += 1
        elif c in "xX" or c in "uU":
            width = 2 if c in "xX" else (4 if c == "u" else 8)
            hx = body[i + 1:i + 1 + width]
            if len(hx) != width or any(h not in "0123456789abcdefABCDEF" for h in hx):
                raise SyntaxErr("invalid escape")
            v = int(hx, 16)
            if is_bytes and c in "xX":
                out.append(v)
            elif is_bytes:
                out.extend(chr(v).encode("utf-8"))
            else:
                out.append(chr(v))
            i += 1 + width
        elif c in "0123":
            oc = body[i:i + 3]
            if len(oc) != 3 or any(o not in "01234567" for o in oc):
                raise SyntaxErr("invalid escape")
            v = int(oc, 8)
            out.extend([v] if is_bytes else [chr(v)])
            i += 3
        else:
            raise SyntaxErr("invalid escape")
    return bytes(out) if is_bytes else "".join(out)


def lex(src, issues):
    toks = []
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c in " \t\n\r\f":
            i += 1
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        start = i
        # strings (with optional r/b prefixes)
        m = 0
        pre = ""
        while m < 2 and i + m < n and src[i + m] in "rRbB":
            pre += src[i + m].lower()
            m += 1
        if i + m < n and src[i + m] in "'\"" and len(set(pre)) == len(pre):
            q0 = i + m
            quote = src[q0]
            triple = src.startswith(quote * 3, q0)
            delim = quote * 3 if triple else quote
            j = q0 + len(delim)
            raw = "r" in pre
            while True:
                if j >= n or (not triple and src[j] in "\r\n"):
                    issues.add(start, "Syntax error: token recognition error at: '%s'" % src[start:j + 1 if j < n else n])
                    return None
                if src.startswith(delim, j):
                    break
                if src[j] == "\\" and not raw:
                    j += 2
                else:
                    j += 1
            body = src[q0 + len(delim):j]
            end = j + len(delim)
            text = src[start:end]
            is_bytes = "b" in pre
            if raw:
                val = body.encode("utf-8") if is_bytes else body
            else:
                try:
                    val = _unescape(body, is_bytes, issues, start)
                except SyntaxErr:
                    issues.add(start, "Syntax error: token recognition error at: '%s'" % text)
                    return None
            toks.append(Tok("BYTES" if is_bytes else "STRING", text, start, val))
            i = end
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_") and src[j].isascii():
                j += 1
            word = src[i:j]
            kind = word if word in KEYWORDS else "IDENTIFIER"
            toks.append(Tok(kind, word, i))
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit() and not (toks and toks[-1].kind in ("IDENTIFIER", ")", "]"))):
            j = i
            if src.startswith(("0x", "0X"), i):
                j = i + 2
                while j < n and src[j] in "0123456789abcdefABCDEF":
                    j += 1
                text = src[i:j]
                if j < n and src[j] in "uU":
                    toks.append(Tok("NUM_UINT", src[i:j + 1], i, ("hex", text)))
                    i = j + 1
                else:
                    toks.append(Tok("NUM_INT", text, i, ("hex", text)))
                    i = j
                continue
            while j < n and src[j].isdigit():
                j += 1
            is_float = False
            if j < n and src[j] == "." and j + 1 < n and src[j + 1].isdigit():
                is_float = True
                j += 1
                while j < n and src[j].isdigit():
                    j += 1
            if j < n and src[j] in "eE":
                k = j + 1
                if k < n and src[k] in "+-":
                    k += 1
                if k < n and src[k].isdigit():
                    is_float = True
                    j = k
                    while j < n and src[j].isdigit():
                        j += 1
            text = src[i:j]
            if is_float:
                toks.append(Tok("NUM_FLOAT", text, i, ("dec", text)))
            elif j < n and src[j] in "uU":
                toks.append(Tok("NUM_UINT", src[i:j + 1], i, ("dec", text)))
                j += 1
            else:
                toks.append(Tok("NUM_INT", text, i, ("dec", text)))
            i = j
            continue
        for p in PUNCT:
            if src.startswith(p, i):
                toks.append(Tok(p, p, i))
                i += len(p)
                break
        else:
            issues.add(i, "Syntax error: token recognition error at: '%s'" % c)
            i += 1
    toks.append(Tok("EOF", "<EOF>", n))
    return toks


# --- parser --------------------------------------------------------------------------------------

_START_KINDS = {"[", "{", "(", ".", "-", "!", "true", "false", "null", "NUM_FLOAT", "NUM_INT", "NUM_UINT",
                "STRING", "BYTES", "IDENTIFIER"}

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


class Parser:
    def __init__(self, src, issues):
        self.src = src
        self.issues = issues
        self.toks = lex(src, issues)
        self.pos = 0
        self.next_id = 1

    def node(self, kind, offset, **kw):
        n = Node(kind, offset, **kw)
        n.id = self.next_id
        self.next_id += 1
        return n

    @property
    def cur(self):
        return self.toks[self.pos]

    def peek(self, k=1):
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def fail(self, tok, msg):
        self.issues.add(tok.offset, "Syntax error: " + msg)
        raise SyntaxErr(msg)

    def expect(self, kind):
        t = self.cur
        if t.kind == kind:
            self.pos += 1
            return t
        if t.kind == "EOF":
            self.fail(t, "missing '%s' at '<EOF>'" % kind)
        self.fail(t, "mismatched input '%s' expecting '%s'" % (t.display(), kind))

    def parse(self):
        if self.toks is None:
            return None
        try:
            e = self.expr()
            t = self.cur
            if t.kind != "EOF":
                if self.peek().kind == "EOF":
                    self.fail(t, "extraneous input '%s' expecting <EOF>" % t.display())
                self.fail(t, "mismatched input '%s' expecting <EOF>" % t.display())
            return e
        except SyntaxErr:
            return None

    def expr(self):
        e = self.or_()
        if self.cur.kind == "?":
            t = self.cur
            self.pos += 1
            a = self.or_()
            self.expect(":")
            b = self.expr()
            return self.node("call", t.offset, fn="_?_:_", args=[e, a, b])
        return e

    def or_(self):
        e = self.and_()
        while self.cur.kind == "||":
            t = self.cur
            self.pos += 1
            e = self.node("call", t.offset, fn="_||_", args=[e, self.and_()])
        return e

    def and_(self):
        e = self.relation()
        while self.cur.kind == "&&":
            t = self.cur
            self.pos += 1
            e = self.node("call", t.offset, fn="_&&_", args=[e, self.relation()])
        return e

    _REL = {"<": "_<_", "<=": "_<=_", ">": "_>_", ">=": "_>=_", "==": "_==_", "!=": "_!=_", "in": "@in"}

    def relation(self):
        e = self.calc()
        while self.cur.kind in self._REL:
            t = self.cur
            self.pos += 1
            e = self.node("call", t.offset, fn=self._REL[t.kind], args=[e, self.calc()])
        return e

    def calc(self):
        e = self.mul()
        while self.cur.kind in ("+", "-"):
            t = self.cur
            self.pos += 1
            e = self.node("call", t.offset, fn="_%s_" % t.kind, args=[e, self.mul()])
        return e

    def mul(self):
        e = self.unary()
        while self.cur.kind in ("*", "/", "%"):
            t = self.cur
            self.pos += 1
            e = self.node("call", t.offset, fn="_%s_" % t.kind, args=[e, self.unary()])
        return e

    def unary(self):
        t = self.cur
        if t.kind == "!":
            ops = []
            while self.cur.kind == "!":
                ops.append(self.cur)
                self.pos += 1
            e = self.member()
            if len(ops) % 2 == 0:
                return e
            return self.node("call", ops[0].offset, fn="!_", args=[e])
        if t.kind == "-":
            ops = []
            while self.cur.kind == "-":
                ops.append(self.cur)
                self.pos += 1
            if len(ops) == 1 and self.cur.kind in ("NUM_INT", "NUM_FLOAT") and self.peek().kind not in (".", "["):
                return self.member(negate=ops[0])
            e = self.member()
            if len(ops) % 2 == 0:
                return e
            return self.node("call", ops[0].offset, fn="-_", args=[e])
        return self.member()

    def member(self, negate=None):
        e = self.primary(negate)
        while True:
            t = self.cur
            if t.kind == ".":
                self.pos += 1
                idt = self.cur
                if idt.kind != "IDENTIFIER":
                    if idt.kind == "in":
                        self.issues.add(idt.offset, "Syntax error: no viable alternative at input '.in'")
                        nxt = self.peek()
                        if nxt.kind != "EOF" and nxt.kind not in _START_KINDS:
                            self.fail(nxt, "extraneous input '%s' expecting %s" % (nxt.display(), EXPR_START))
                        raise SyntaxErr("in")
                    self.fail(idt, "mismatched input '%s' expecting IDENTIFIER" % idt.display())
                self.pos += 1
                if self.cur.kind == "(":
                    op = self.cur
                    self.pos += 1
                    args = self.expr_list(")")
                    e = self.make_call(op.offset, idt.text, e, args)
                else:
                    e = self.node("select", t.offset, operand=e, field=idt.text)
            elif t.kind == "[":
                self.pos += 1
                idx = self.expr()
                self.expect("]")
                e = self.node("call", t.offset, fn="_[_]", args=[e, idx])
            elif t.kind == "{" and e.kind == "ident":
                self.fail(t, "message construction is not supported")
            else:
                return e

    def expr_list(self, close):
        args = []
        if self.cur.kind == close:
            self.pos += 1
            return args
        while True:
            args.append(self.expr())
            if self.cur.kind == ",":
                self.pos += 1
                if close in ("]", "}") and self.cur.kind == close:
                    self.pos += 1
                    return args
                continue
            self.expect(close)
            return args

    def primary(self, negate=None):
        t = self.cur
        k = t.kind
        if k == "IDENTIFIER" or (k == "." and self.peek().kind == "IDENTIFIER"):
            lead = ""
            if k == ".":
                lead = "."
                self.pos += 1
                t = self.cur
            self.pos += 1
            if t.text in RESERVED:
                self.issues.add(t.offset, "reserved identifier: %s" % t.text)
                raise SyntaxErr("reserved")
            if self.cur.kind == "(":
                op = self.cur
                self.pos += 1
                args = self.expr_list(")")
                return self.make_call(op.offset, lead + t.text, None, args)
            return self.node("ident", t.offset, name=lead + t.text)
        if k == "(":
            self.pos += 1
            e = self.expr()
            self.expect(")")
            return e
        if k == "[":
            self.pos += 1
            elems = self.expr_list("]")
            return self.node("list", t.offset, elems=elems)
        if k == "{":
            self.pos += 1
            entries = []
            if self.cur.kind == "}":
                self.pos += 1
            else:
                while True:
                    key = self.expr()
                    colon = self.expect(":")
                    val = self.expr()
                    entries.append((key, val, colon.offset))
                    if self.cur.kind == ",":
                        self.pos += 1
                        if self.cur.kind == "}":
                            self.pos += 1
                            break
                        continue
                    self.expect("}")
                    break
            return self.node("map", t.offset, entries=entries)
        if k in ("true", "false"):
            self.pos += 1
            return self.node("const", t.offset, value=(k == "true"))
        if k == "null":
            self.pos += 1
            return self.node("const", t.offset, value=None)
        if k in ("STRING", "BYTES"):
            self.pos += 1
            return self.node("const", t.offset, value=t.value)
        if k in ("NUM_INT", "NUM_UINT", "NUM_FLOAT"):
            self.pos += 1
            off = negate.offset if negate else t.offset
            base, text = t.value
            if k == "NUM_FLOAT":
                v = float(text)
                return self.node("const", off, value=-v if negate else v)
            v = int(text, 16) if base == "hex" else int(text)
            if k == "NUM_UINT":
                if v >= (1 << 64):
                    self.issues.add(t.offset, "invalid uint literal")
                    raise SyntaxErr("uint")
                return self.node("const", off, value=UInt(v))
            if negate:
                v = -v
            if v < INT64_MIN or v > INT64_MAX:
                self.issues.add(off, "invalid int literal")
                raise SyntaxErr("int")
            return self.node("const", off, value=v)
        if k == "EOF":
            self.fail(t, "mismatched input '<EOF>' expecting %s" % EXPR_START)
        nxt = self.peek()
        if nxt.kind in _START_KINDS:
            self.issues.add(t.offset, "Syntax error: extraneous input '%s' expecting %s" % (t.display(), EXPR_START))
            self.pos += 1
            return self.primary(negate)
        self.fail(t, "mismatched input '%s' expecting %s" % (t.display(), EXPR_START))

    # --- macros ---

    def make_call(self, offset, fn, target, args):
        if target is None and fn == "has" and len(args) == 1:
            a = args[0]
            if a.kind != "select":
                self.issues.add(offset, "invalid argument to has() macro")
                raise SyntaxErr("has")
            return self.node("select", offset, operand=a.operand, field=a.field, test_only=True)
        if target is not None and fn in ("all", "exists", "exists_one", "map", "filter") and len(args) in (2, 3):
            if fn != "map" and len(args) == 3:
                return self.node("call", offset, fn=fn, target=target, args=args)
            v = args[0]
            if v.kind != "ident":
                self.issues.add(v.offset, "argument must be a simple name")
                raise SyntaxErr("macro")
            if len(args) == 3:
                return self.node("comp", offset, macro="map", var=v.name, range=target, body=args[2], body2=args[1])
            return self.node("comp", offset, macro=fn, var=v.name, range=target, body=args[1])
        return self.node("call", offset, fn=fn, target=target, args=args)


def parse(src):
    """Returns (ast or None, Issues)."""
    issues = Issues(src)
    p = Parser(src, issues)
    ast = p.parse()
    if issues:
        return None, issues
    return ast, issues


def walk(n):
    """All nodes of a tree (pre-order)."""
    if n is None:
        return
    yield n
    for c in children(n):
        yield from walk(c)


def children(n):
    out = []
    if n.kind == "select":
        out.append(n.operand)
    elif n.kind == "call":
        if n.target is not None:
            out.append(n.target)
        out.extend(n.args)
    elif n.kind == "list":
        out.extend(n.elems)
    elif n.kind == "map":
        for k, v, _ in n.entries:
            out += [k, v]
    elif n.kind == "comp":
        out.append(n.range)
        if n.body2 is not None:
            out.append(n.body2)
        out.append(n.body)
    return out
