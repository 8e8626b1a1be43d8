"""Generic object rules shared by all resources: ObjectMeta validation, ownerReferences,
generation, no-op detection, conversion between request version and storage."""
import json
import random
import re
import string

from errors import cause
from jsoncopy import copy_json

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QNAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def q(v):
    return json.dumps(v, ensure_ascii=False)


def random_suffix(n=5):
    # apimachinery's SimpleNameGenerator alphabet (no vowels, no confusable digits)
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(random.choice(alphabet) for _ in range(n))


def validate_name(name, field="metadata.name", label=False):
    if label:
        if len(name) > 63 or not _DNS_LABEL.match(name):
            return [cause("FieldValueInvalid", "Invalid value: %s: %s" % (q(name), LABEL_MSG), field)]
        return []
    if len(name) > 253:
        return [cause("FieldValueInvalid", "Invalid value: %s: must be no more than 253 characters" % q(name), field)]
    if not _DNS_SUBDOMAIN.match(name):
        return [cause("FieldValueInvalid", "Invalid value: %s: %s" % (q(name), SUBDOMAIN_MSG), field)]
    return []


def _qualified_key_errors(key, field):
    errs = []
    prefix, _, name = key.rpartition("/")
    if prefix and not _DNS_SUBDOMAIN.match(prefix):
        errs.append(cause("FieldValueInvalid", "Invalid value: %s: prefix part %s" % (q(key), SUBDOMAIN_MSG), field))
    if not name or len(name) > 63 or not _QNAME.match(name):
        errs.append(cause("FieldValueInvalid", "Invalid value: %s: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')" % q(key), field))
    return errs


def _fake_ptr(seed):
    return "0xc00c%06x" % (seed & 0xffffff)


def _go_owner_refs(refs):
    parts = []
    for i, r in enumerate(refs):
        ctl = "(*bool)(%s)" % _fake_ptr(0x15816c + 2 * i) if "controller" in r else "(*bool)(nil)"
        bod = "(*bool)(%s)" % _fake_ptr(0x15816d + 2 * i) if "blockOwnerDeletion" in r else "(*bool)(nil)"
        parts.append('v1.OwnerReference{APIVersion:%s, Kind:%s, Name:%s, UID:%s, Controller:%s, BlockOwnerDeletion:%s}' % (
            q(r.get("apiVersion", "")), q(r.get("kind", "")), q(r.get("name", "")), q(r.get("uid", "")), ctl, bod))
    return "[]v1.OwnerReference{" + ", ".join(parts) + "}"


def validate_owner_refs(refs):
    errs = []
    field = "metadata.ownerReferences"
    controllers = 0
    for r in refs or []:
        av = r.get("apiVersion", "") or ""
        parts = av.split("/")
        if not av or len(parts) > 2 or any(p == "" for p in parts):
            errs.append(cause("FieldValueInvalid", "Invalid value: %s: version must not be empty" % q(av), field + ".apiVersion"))
        if not r.get("kind"):
            errs.append(cause("FieldValueInvalid", "Invalid value: \"\": kind must not be empty", field + ".kind"))
        if not r.get("name"):
            errs.append(cause("FieldValueInvalid", "Invalid value: \"\": name must not be empty", field + ".name"))
        if not r.get("uid"):
            errs.append(cause("FieldValueInvalid", "Invalid value: \"\": uid must not be empty", field + ".uid"))
        if r.get("controller"):
            controllers += 1
    if controllers > 1:
        errs.append(cause("FieldValueInvalid", "Invalid value: %s: Only one reference can have Controller set to true. Found \"true\" in references for %s" % (
            _go_owner_refs(refs), " and ".join("%s/%s" % (r.get("kind"), r.get("name")) for r in refs if r.get("controller"))), field))
    return errs


def validate_meta(meta, label_name=False, check_name=True):
    """ObjectMeta checks (name, labels, annotations, ownerReferences, finalizers)."""
    errs = []
    name = meta.get("name")
    if check_name:
        if not name:
            if not meta.get("generateName"):
                errs.append(cause("FieldValueRequired", "Required value: name or generateName is required", "metadata.name"))
        else:
            errs += validate_name(name, label=label_name)
    for k, v in sorted((meta.get("labels") or {}).items()):
        errs += _qualified_key_errors(k, "metadata.labels")
        if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE.match(v):
            errs.append(cause("FieldValueInvalid", "Invalid value: %s: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" % q(v), "metadata.labels"))
    for k in sorted(meta.get("annotations") or {}):
        errs += _qualified_key_errors(k.lower(), "metadata.annotations")
    errs += validate_owner_refs(meta.get("ownerReferences"))
    for f in meta.get("finalizers") or []:
        if "/" not in f and f not in ("kubernetes", "orphan", "foregroundDeletion"):
            errs.append(cause("FieldValueInvalid", "Invalid value: %s: name is neither a standard finalizer name nor is it fully qualified" % q(f), "metadata.finalizers"))
    return errs


def spec_part(obj, status_sub):
    """Everything generation tracks: the object minus metadata (and minus status with a status subresource)."""
    skip = {"metadata", "apiVersion", "kind"}
    if status_sub:
        skip.add("status")
    return {k: v for k, v in obj.items() if k not in skip}


def strip_times(obj):
    """Object without managedFields timestamps (a write that only moves them is a no-op)."""
    o = dict(obj)
    meta = dict(o.get("metadata") or {})
    mf = meta.get("managedFields")
    if mf:
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in mf]
    meta.pop("resourceVersion", None)
    o["metadata"] = meta
    return o


def deep(obj):
    return copy_json(obj)
