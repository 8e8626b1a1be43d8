"""meta.k8s.io/v1 Table (kubectl get) from a CRD's additionalPrinterColumns, and PartialObjectMetadata."""
import gotime
import wire

NAME_DESC = ("Name must be unique within a namespace. Is required when creating resources, although some resources "
             "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
             "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
             "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")


def _jsonpath(obj, path):
    cur = obj
    for part in [p for p in path.strip().lstrip(".").split(".") if p]:
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _parsable(path):
    """Whether k8s.io/client-go/util/jsonpath parses the path (brackets/braces closed, quotes terminated)."""
    depth = []
    quote = None
    for ch in path:
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"" and depth:
            quote = ch
        elif ch in "[{(":
            depth.append({"[": "]", "{": "}", "(": ")"}[ch])
        elif ch in "]})":
            if not depth or depth.pop() != ch:
                return False
    return not depth and quote is None


def _cell(col, obj):
    v = _jsonpath(obj, col.get("jsonPath", ""))
    if v is None:
        return None
    t = col.get("type")
    if t == "date":
        return gotime.age(v)
    if t == "integer" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v)
    if t == "string" and not isinstance(v, str):
        return wire.compact(v)
    return v


def partial(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": wire.order(obj.get("metadata") or {}, wire.OBJECT_META)}


def partial_list(items, meta):
    m = {"resourceVersion": meta["resourceVersion"]}
    if meta.get("continue"):
        m["continue"] = meta["continue"]
    if meta.get("remainingItemCount") is not None:
        m["remainingItemCount"] = meta["remainingItemCount"]
    return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": m,
            "items": [partial(o) for o in items]}


def table(r, items, meta, include):
    cols = [{"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0}]
    pcs = r.printer_columns
    if not pcs:
        pcs = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    elif not all(_parsable(c.get("jsonPath", "")) for c in pcs):
        pcs = []   # 21 E1: a column jsonPath the table convertor cannot parse -> only the Name column, no error
    for c in pcs:
        cols.append({"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                     "description": c.get("description") or "Custom resource definition column (in JSONPath format): %s" % c.get("jsonPath", ""),
                     "priority": c.get("priority", 0)})
    rows = []
    for o in items:
        row = {"cells": [(o.get("metadata") or {}).get("name", "")] + [_cell(c, o) for c in pcs]}
        if include == "None":
            row["object"] = None
        elif include == "Object":
            row["object"] = wire.order(o, r.order_spec) if r.builtin else wire.sort_all(o)
        else:
            row["object"] = partial(o)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols, "rows": rows}
