"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902)."""
from jsoncopy import copy_json


class PatchError(Exception):
    pass


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy_json(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _split(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid path %r" % path)
    return [_unescape(t) for t in path[1:].split("/")]


def _resolve(doc, tokens):
    """Parent container and final token."""
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError("missing path")
            cur = cur[t]
        elif isinstance(cur, list):
            idx = _index(t, len(cur))
            cur = cur[idx]
        else:
            raise PatchError("missing path")
    return cur, tokens[-1]


def _index(t, n, allow_end=False):
    if t == "-" and allow_end:
        return n
    if not t.isdigit() or (len(t) > 1 and t[0] == "0"):
        raise PatchError("bad index")
    i = int(t)
    if i > n or (i == n and not allow_end):
        raise PatchError("index out of range")
    return i


def _get(doc, path):
    tokens = _split(path)
    if not tokens:
        return doc
    parent, last = _resolve(doc, tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError("missing")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(last, len(parent))]
    raise PatchError("missing")


def _add(doc, path, value):
    tokens = _split(path)
    if not tokens:
        return value
    parent, last = _resolve(doc, tokens)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), allow_end=True), value)
    else:
        raise PatchError("cannot add")
    return doc


def _remove(doc, path):
    tokens = _split(path)
    if not tokens:
        raise PatchError("cannot remove root")
    parent, last = _resolve(doc, tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError("missing")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(last, len(parent)))
    raise PatchError("missing")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise TypeError("not a list")
    doc = copy_json(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError("bad op")
        kind = op.get("op")
        path = op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy_json(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            tokens = _split(path)
            if not tokens:
                doc = copy_json(op.get("value"))
            else:
                parent, last = _resolve(doc, tokens)
                if isinstance(parent, list):
                    parent[_index(last, len(parent))] = copy_json(op.get("value"))
                else:
                    parent[last] = copy_json(op.get("value"))
        elif kind == "move":
            val = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, val)
        elif kind == "copy":
            val = copy_json(_get(doc, op.get("from", "")))
            doc = _add(doc, path, val)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError("test failed")
        else:
            raise PatchError("unknown op %r" % kind)
    return doc
