"""metadata.managedFields: a simplified structured-merge-diff.

Field sets are Python sets of paths; a path is a tuple of elements 'f:<field>', 'k:<json keys>',
'v:<json value>'. Update operations own what they add or change (taking it from other managers);
Apply operations own exactly the leaves of their applied configuration and get conflicts when
another manager owns a field they would change. Lists are atomic unless the schema says
x-kubernetes-list-type set/map; metadata.finalizers is a set, ownerReferences a map keyed by uid.
"""
import json
from jsoncopy import copy_json

STRIPPED_META = {"name", "namespace", "creationTimestamp", "selfLink", "uid", "generation", "managedFields",
                 "resourceVersion", "clusterName"}

META_SCHEMA = {"type": "object", "properties": {
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "finalizers": {"type": "array", "x-kubernetes-list-type": "set"},
    "ownerReferences": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"],
                        "items": {"type": "object", "x-kubernetes-map-type": "atomic"}},
}}


def _keyjson(d):
    return json.dumps(d, separators=(",", ":"), sort_keys=True)


def _sub(schema, key):
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    addl = schema.get("additionalProperties")
    if isinstance(addl, dict):
        return addl
    return None


def _atomic(schema):
    return isinstance(schema, dict) and (schema.get("x-kubernetes-map-type") == "atomic"
                                         or schema.get("x-kubernetes-atomic"))


def fieldset(obj, schema):
    out = set()
    for p, (v, sub) in _top_children(obj, schema).items():
        out.add(p)
        _walk(v, sub, p, out)
    return out


_LEAF = {"x-kubernetes-map-type": "atomic"}  # a set item: a leaf, whatever its value


def _child_items(v, schema):
    """(path element, child value, child schema) for each child of v that field sets record."""
    if isinstance(v, dict):
        if not _atomic(schema):
            for k, x in v.items():
                yield "f:" + k, x, _sub(schema, k)
    elif isinstance(v, list) and isinstance(schema, dict):
        lt = schema.get("x-kubernetes-list-type")
        if lt == "set":
            for x in v:
                yield "v:" + _keyjson(x), x, _LEAF
        elif lt == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            items = schema.get("items")
            for x in v:
                if isinstance(x, dict):
                    yield "k:" + _keyjson({k: x[k] for k in keys if k in x}), x, items


def _walk(v, schema, prefix, out):
    for el, x, sx in _child_items(v, schema):
        p = prefix + (el,)
        out.add(p)
        _walk(x, sx, p, out)


def leaves(s):
    parents = set()
    for p in s:
        for i in range(1, len(p)):
            parents.add(p[:i])
    return {p for p in s if p not in parents}


_MISSING = object()


def get_path(obj, path):
    cur = obj
    for el in path:
        kind, _, rest = el.partition(":")
        if kind == "f":
            if not isinstance(cur, dict) or rest not in cur:
                return _MISSING
            cur = cur[rest]
        elif kind == "v":
            val = json.loads(rest)
            if not isinstance(cur, list) or val not in cur:
                return _MISSING
            cur = val
        elif kind == "k":
            keys = json.loads(rest)
            if not isinstance(cur, list):
                return _MISSING
            found = _MISSING
            for x in cur:
                if isinstance(x, dict) and all(x.get(k) == kv for k, kv in keys.items()):
                    found = x
                    break
            if found is _MISSING:
                return _MISSING
            cur = found
        else:
            return _MISSING
    return cur


def to_fields_v1(s):
    root = {}
    for p in sorted(s):
        node = root
        for el in p:
            node = node.setdefault(el, {})
    for p in s:
        node = root
        for el in p:
            node = node[el]
        if any(k != "." for k in node):
            node["."] = {}
    return root


def from_fields_v1(tree, prefix=()):
    out = set()
    if not isinstance(tree, dict):
        return out
    for k, child in tree.items():
        if k == ".":
            if prefix:
                out.add(prefix)
            continue
        p = prefix + (k,)
        if not child:
            out.add(p)
        else:
            out |= from_fields_v1(child, p)
    return out


def _entry_key(e):
    return (e.get("manager"), e.get("operation"), e.get("subresource", ""))


def _secs(e):
    t = e.get("time")
    return t or ""


def sort_entries(entries):
    # apimachinery sorts by operation, then time, then manager, then subresource
    return sorted(entries, key=lambda e: (e.get("operation", ""), _secs(e), e.get("manager", ""),
                                          e.get("subresource", "")))


def _make_entry(manager, operation, api_version, s, now, subresource, with_time=True):
    e = {"manager": manager, "operation": operation, "apiVersion": api_version}
    if with_time:
        e["time"] = now
    e["fieldsType"] = "FieldsV1"
    e["fieldsV1"] = to_fields_v1(s)
    if subresource:
        e["subresource"] = subresource
    return e


class _Ambiguous(Exception):
    """Two list items with the same set value or map key: left to the set-based diff."""


def _children(v, schema):
    """{path element: (child value, child schema)}, as _walk descends."""
    out = {}
    for el, x, sx in _child_items(v, schema):
        if el in out:
            raise _Ambiguous()
        out[el] = (x, sx)
    return out


def _top_children(obj, schema):
    out = {}
    if not isinstance(obj, dict):
        return out
    for key, v in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            if isinstance(v, dict):
                for mk, mv in v.items():
                    if mk not in STRIPPED_META:
                        out[("f:metadata", "f:" + mk)] = (mv, _sub(META_SCHEMA, mk))
            continue
        out[("f:" + key,)] = (v, _sub(schema, key))
    return out


def _diff(a, b, schema_a, schema_b, prefix, added, removed, modified):
    cb = _children(b, schema_b)
    if not cb and not prefix[-1].startswith("v:") and a != b:
        modified.add(prefix)  # a leaf of the new object whose value changed (a set item never is)
    _diff_children(_children(a, schema_a), cb, lambda el: prefix + (el,), added, removed, modified)


def _diff_children(ca, cb, path, added, removed, modified):
    """ca, cb: {element: (value, schema)} of one node in live and in new; path(element) is
    the child's field path."""
    for el, (x, sx) in cb.items():
        p = path(el)
        if el in ca:
            _diff(ca[el][0], x, ca[el][1], sx, p, added, removed, modified)
        else:
            added.add(p)
            _walk(x, sx, p, added)
    for el, (x, sx) in ca.items():
        if el not in cb:
            p = path(el)
            removed.add(p)
            _walk(x, sx, p, removed)


def diff(live, new, schema):
    """(added, removed, modified) field paths from live to new: the same sets as
    fieldset(new) - fieldset(live), fieldset(live) - fieldset(new) and the common leaves
    of new whose values differ, in one walk over both objects."""
    added, removed, modified = set(), set(), set()
    try:
        _diff_children(_top_children(live, schema), _top_children(new, schema), lambda p: p,
                       added, removed, modified)
        return added, removed, modified
    except _Ambiguous:
        old_set, new_set = fieldset(live, schema), fieldset(new, schema)
        new_leaves = leaves(new_set)
        return (new_set - old_set, old_set - new_set,
                {p for p in (new_set & old_set) if p in new_leaves and get_path(new, p) != get_path(live, p)})


def update(entries, live, new, schema, manager, api_version, now, subresource=""):
    """managedFields after an Update operation from `live` (may be None) to `new`."""
    added, removed, modified = diff(live if live is not None else {}, new, schema)
    changed = added | modified
    mine_key = (manager, "Update", subresource)
    out = []
    mine = None
    for e in entries or []:
        s = from_fields_v1(e.get("fieldsV1", {})) - removed
        if _entry_key(e) == mine_key:
            mine = (e, s)
            continue
        s -= changed
        if s:
            ne = dict(e)
            ne["fieldsV1"] = to_fields_v1(s)
            out.append(ne)
    if mine is not None:
        s = mine[1] | changed
        if s:
            ne = dict(mine[0])
            ne["fieldsV1"] = to_fields_v1(s)
            if changed:
                ne["time"] = now
            out.append(ne)
    elif changed:
        out.append(_make_entry(manager, "Update", api_version, changed, now, subresource))
    return sort_entries(out)


class ApplyConflict(Exception):
    def __init__(self, conflicts):
        super().__init__("conflicts")
        self.conflicts = conflicts  # [(manager_label, path_str)]


def path_str(p):
    out = ""
    for el in p:
        kind, _, rest = el.partition(":")
        if kind == "f":
            out += "." + rest
        elif kind == "k":
            keys = json.loads(rest)
            out += "[" + ",".join("%s=%s" % (k, json.dumps(v)) for k, v in keys.items()) + "]"
        elif kind == "v":
            out += "[=" + rest + "]"
    return out


def _merge(live, config):
    if isinstance(live, dict) and isinstance(config, dict):
        out = dict(live)
        for k, v in config.items():
            out[k] = _merge(live.get(k), v) if k in live else copy_json(v)
        return out
    return copy_json(config)


def _remove_path(obj, p):
    parent = get_path(obj, p[:-1]) if len(p) > 1 else obj
    kind, _, rest = p[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "v" and isinstance(parent, list):
        val = json.loads(rest)
        if val in parent:
            parent.remove(val)


def apply(entries, live, config, schema, manager, api_version, now, force):
    """Returns (new_object, new_entries). live may be None (create)."""
    config_set = leaves(fieldset(config, schema))
    base = copy_json(live) if live is not None else {}
    mine_key = (manager, "Apply", "")
    conflicts = []
    others = []
    prev_mine = set()
    prev_entry = None
    for e in entries or []:
        s = from_fields_v1(e.get("fieldsV1", {}))
        if _entry_key(e) == mine_key:
            prev_mine = s
            prev_entry = e
            continue
        others.append((e, s))
    for e, s in others:
        for p in sorted(s & config_set):
            lv = get_path(base, p)
            if lv is not _MISSING and lv != get_path(config, p):
                label = e.get("manager", "")
                if e.get("operation") == "Update":
                    label = '"%s" using %s' % (label, e.get("apiVersion", ""))
                else:
                    label = '"%s"' % label
                conflicts.append((label, path_str(p), p, e))
    if conflicts and not force:
        raise ApplyConflict([(c[0], c[1]) for c in conflicts])
    lost = {}
    for label, _, p, e in conflicts:
        lost.setdefault(id(e), set()).add(p)
    new = _merge(base, config)
    # fields this manager applied before but no longer applies, owned by nobody else: removed
    still_owned = set()
    for e, s in others:
        still_owned |= s - lost.get(id(e), set())
    for p in sorted(prev_mine - config_set - still_owned, key=len, reverse=True):
        _remove_path(new, p)
    changed = new != (live or {})
    out = []
    for e, s in others:
        s2 = s - lost.get(id(e), set())
        if s2:
            ne = dict(e)
            ne["fieldsV1"] = to_fields_v1(s2)
            out.append(ne)
    if config_set:
        ne = _make_entry(manager, "Apply", api_version, config_set, now, "", with_time=changed)
        if not changed and prev_entry is not None and "time" in prev_entry:
            ne["time"] = prev_entry["time"]
            ne = _make_entry(manager, "Apply", api_version, config_set, prev_entry["time"], "")
        out.append(ne)
    return new, sort_entries(out)
