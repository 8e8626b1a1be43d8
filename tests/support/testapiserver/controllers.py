"""kube-controller-manager stand-ins (sample 24), enabled with `server.py --controllers`:

- namespace controller: a namespace DELETE (Terminating) is processed `--namespace-deletion-delay` seconds
  later (default 0.5; the real controller took ~5 s): all content is deleted (finalizer-free objects vanish,
  finalizer-held ones get deletionTimestamp, deletionGracePeriodSeconds 0, generation +1), the five
  NamespaceDeletion*/Namespace*Remaining conditions are set as recorded, and the namespace is removed (its
  `kubernetes` finalizer dropped) once nothing is left; re-checked every 0.2 s.
- garbage collector: dependents (ownerReferences) of absent owners, owners with another uid, or owners that
  live in another namespace are deleted right after their create (cross-namespace: a Warning event
  OwnerRefInvalidNamespace); deleting an owner deletes its dependents (Background); an owner with the
  `foregroundDeletion` finalizer deletes its dependents and stays until no dependent with
  blockOwnerDeletion: true exists; `orphan` strips the ownerReferences from the dependents, then the owner goes.
- serviceaccounts controller: every Active namespace gets ServiceAccount `default`.

All work runs on one thread, woken by the store's events, under the store lock.
"""
import collections
import threading
import time
import uuid

import gotime
from jsoncopy import copy_json

NS_KEY = ("", "namespaces")
SA_KEY = ("", "serviceaccounts")
EV_KEY = ("", "events")
RECHECK = 0.2


class Controllers:
    def __init__(self, ctx, ns_delay=0.5):
        self.ctx = ctx
        self.store = ctx.store
        self.ns_delay = ns_delay
        self.cv = threading.Condition(threading.Lock())
        self.queue = collections.deque()
        self.ns_due = {}                       # namespace -> monotonic time of the next pass
        self.dependents = collections.defaultdict(set)   # owner uid -> {(key, ns, name)}
        self.by_key = {}
        for r in ctx.registry.by_path.values():
            if not r.virtual:
                self.by_key.setdefault(r.storage_key, r)

    # ---- wiring ----
    def start(self):
        with self.store.lock:
            for key, objs in list(self.store.objects.items()):
                for (ns, name), obj in list(objs.items()):
                    self._index(key, ns, name, None, obj)
                    if key == NS_KEY:
                        self._push(("ns-added", name))
            self.store.listeners.append(self._on_event)
        threading.Thread(target=self._run, name="kube-controller-manager", daemon=True).start()

    def _push(self, item):
        with self.cv:
            self.queue.append(item)
            self.cv.notify()

    @staticmethod
    def _refs(obj):
        return [r for r in ((obj or {}).get("metadata") or {}).get("ownerReferences") or [] if isinstance(r, dict)]

    def _index(self, key, ns, name, prev, obj):
        for ref in self._refs(prev):
            self.dependents[ref.get("uid")].discard((key, ns, name))
        for ref in self._refs(obj):
            self.dependents[ref.get("uid")].add((key, ns, name))

    def _on_event(self, ev):   # under the store lock: index + enqueue only
        obj = ev.obj
        self._index(ev.key, ev.ns, ev.name, ev.prev, None if ev.type == "DELETED" else obj)
        meta = obj.get("metadata") or {}
        if ev.key == NS_KEY:
            if ev.type == "ADDED":
                self._push(("ns-added", ev.name))
            elif meta.get("deletionTimestamp") and ev.type != "DELETED":
                with self.cv:
                    if ev.name not in self.ns_due:
                        self.ns_due[ev.name] = time.monotonic() + self.ns_delay
                        self.cv.notify()
        if ev.ns:
            with self.cv:
                if ev.ns in self.ns_due and ev.type == "DELETED":
                    self.ns_due[ev.ns] = min(self.ns_due[ev.ns], time.monotonic() + 0.05)
                    self.cv.notify()
        if ev.type == "DELETED":
            self._push(("owner-gone", meta.get("uid")))
        elif meta.get("deletionTimestamp") and set(meta.get("finalizers") or []) & {"orphan", "foregroundDeletion"}:
            self._push(("owner", ev.key, ev.ns, ev.name))
        if ev.type != "DELETED" and self._refs(obj):
            self._push(("dep", ev.key, ev.ns, ev.name))
        for ref in self._refs(obj if ev.type == "DELETED" or meta.get("deletionTimestamp") else None):
            self._push(("owner-uid", ref.get("uid")))

    def _run(self):
        while True:
            with self.cv:
                while not self.queue:
                    now = time.monotonic()
                    due = [n for n, t in self.ns_due.items() if t <= now]
                    if due:
                        for n in due:
                            self.queue.append(("ns-delete", n))
                            self.ns_due[n] = now + RECHECK
                        break
                    wait = min([t - now for t in self.ns_due.values()] or [3600])
                    self.cv.wait(max(0.005, wait))
                item = self.queue.popleft()
            try:
                with self.store.lock:
                    getattr(self, "_do_" + item[0].replace("-", "_"))(*item[1:])
            except Exception as e:  # noqa: BLE001  a controller must not die
                import sys
                import traceback
                sys.stderr.write("testapiserver: controller error on %s: %s\n%s" % (item, e, traceback.format_exc()))

    # ---- helpers (store lock held) ----
    def _write(self, key, ns, name, obj):
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and key != NS_KEY:
            self.store.delete(key, ns, name)
        else:
            meta.pop("finalizers", None) if not meta.get("finalizers") else None
            self.store.write(key, ns, name, obj)

    def _delete(self, key, ns, name, foreground=False):
        obj = self.store.get(key, ns, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        fins = list(obj["metadata"].get("finalizers") or [])
        if foreground and "foregroundDeletion" not in fins:
            fins.append("foregroundDeletion")
        if not fins:
            self.store.delete(key, ns, name)
            return
        new = copy_json(obj)
        m = new["metadata"]
        m["deletionTimestamp"] = gotime.now_rfc3339()
        m["deletionGracePeriodSeconds"] = 0
        m["finalizers"] = fins
        r = self.by_key.get(key)
        if r is not None and r.has_generation:
            m["generation"] = m.get("generation", 1) + 1
        self.store.write(key, ns, name, new)

    def _resolve(self, ref):
        av = ref.get("apiVersion") or ""
        group, version = (av.split("/", 1) if "/" in av else ("", av))
        for r in self.ctx.registry.in_group_version(group, version):
            if r.kind == ref.get("kind") and not r.virtual:
                return r
        return None

    # ---- serviceaccounts controller ----
    def _do_ns_added(self, name):
        ns = self.store.get(NS_KEY, "", name)
        if ns is None or ns["metadata"].get("deletionTimestamp") or self.store.get(SA_KEY, name, "default") is not None:
            return
        self.store.write(SA_KEY, name, "default", {
            "kind": "ServiceAccount", "apiVersion": "v1",
            "metadata": {"name": "default", "namespace": name, "uid": str(uuid.uuid4()),
                         "creationTimestamp": gotime.now_rfc3339()}}, "ADDED")

    # ---- namespace controller ----
    def _do_ns_delete(self, name):
        ns = self.store.get(NS_KEY, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            with self.cv:
                self.ns_due.pop(name, None)
            return
        remaining = collections.Counter()
        finalizers = collections.Counter()
        for key, r in self.by_key.items():
            if not r.namespaced:
                continue
            for obj in self.store.items(key, name):
                self._delete(key, name, obj["metadata"]["name"])
            for obj in self.store.items(key, name):
                remaining[r.qualified] += 1
                for f in obj["metadata"].get("finalizers") or []:
                    finalizers[f] += 1
        if not remaining:
            new = copy_json(ns)
            new["spec"] = dict(new.get("spec") or {})
            new["spec"]["finalizers"] = [f for f in new["spec"].get("finalizers") or [] if f != "kubernetes"]
            if not new["spec"]["finalizers"]:
                new["spec"].pop("finalizers")
            if not new["metadata"].get("finalizers"):
                self.store.delete(NS_KEY, "", name)
                with self.cv:
                    self.ns_due.pop(name, None)
            else:
                self.store.write(NS_KEY, "", name, new)
            return
        now = gotime.now_rfc3339()
        want = [("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
                ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
                ("NamespaceDeletionContentFailure", "False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
                ("NamespaceContentRemaining", "True", "SomeResourcesRemain", "Some resources are remaining: " +
                 ", ".join("%s has %d resource instances" % (k, v) for k, v in sorted(remaining.items())))]
        if finalizers:
            want.append(("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain",
                         "Some content in the namespace has finalizers remaining: " +
                         ", ".join("%s in %d resource instances" % (k, v) for k, v in sorted(finalizers.items()))))
        else:
            want.append(("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers", "All content-preserving finalizers finished"))
        old = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or []}
        conds = []
        changed = False
        for t, st, reason, msg in want:
            o = old.get(t)
            if o and (o.get("status"), o.get("reason"), o.get("message")) == (st, reason, msg):
                conds.append(o)
                continue
            changed = True
            ltt = o.get("lastTransitionTime") if o and o.get("status") == st else now
            conds.append({"type": t, "status": st, "lastTransitionTime": ltt, "reason": reason, "message": msg})
        if changed:
            new = copy_json(ns)
            new["status"] = dict(new.get("status") or {}, conditions=conds)
            self.store.write(NS_KEY, "", name, new)

    # ---- garbage collector ----
    def _classify(self, key, ns, obj):
        solid, dangling, waiting = [], [], []
        for ref in self._refs(obj):
            r = self._resolve(ref)
            if r is None:
                solid.append(ref)       # unknown kind: the real GC cannot resolve it and leaves the object alone
                continue
            owner = self.store.get(r.storage_key, ns if r.namespaced else "", ref.get("name", ""))
            if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
                dangling.append(ref)
                if r.namespaced and ns:
                    self._maybe_cross_ns_event(r, key, ns, obj, ref)
            elif owner["metadata"].get("deletionTimestamp") and "foregroundDeletion" in (owner["metadata"].get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    def _maybe_cross_ns_event(self, r, key, ns, obj, ref):
        elsewhere = any(o["metadata"].get("uid") == ref.get("uid") for o in self.store.items(r.storage_key)
                        if o["metadata"].get("namespace") != ns)
        if not elsewhere:
            return
        dep = self.by_key.get(key)
        meta = obj["metadata"]
        name = "%s.%x" % (meta["name"], time.time_ns())
        now = gotime.now_rfc3339()
        ev = {"kind": "Event", "apiVersion": "v1",
              "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp": now},
              "involvedObject": {"kind": dep.kind if dep else "", "namespace": ns, "name": meta["name"],
                                 "uid": meta.get("uid"), "apiVersion": dep.api_version if dep else ""},
              "reason": "OwnerRefInvalidNamespace",
              "message": 'ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in namespace "%s"'
                         % (ref.get("apiVersion"), ref.get("kind"), ns, ref.get("name"), ref.get("uid"), ns),
              "source": {"component": "garbage-collector-controller"},
              "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": "Warning", "eventTime": None,
              "reportingComponent": "garbage-collector-controller", "reportingInstance": ""}
        self.store.write(EV_KEY, ns, name, ev, "ADDED")

    def _do_dep(self, key, ns, name):
        obj = self.store.get(key, ns, name)
        if obj is None or obj["metadata"].get("deletionTimestamp") or not self._refs(obj):
            return
        solid, dangling, waiting = self._classify(key, ns, obj)
        if solid:
            if dangling or waiting:
                drop = {r.get("uid") for r in dangling + waiting}
                new = copy_json(obj)
                new["metadata"]["ownerReferences"] = [r for r in self._refs(obj) if r.get("uid") not in drop]
                if not new["metadata"]["ownerReferences"]:
                    new["metadata"].pop("ownerReferences")
                self.store.write(key, ns, name, new)
            return
        has_deps = bool(self.dependents.get(obj["metadata"].get("uid")))
        self._delete(key, ns, name, foreground=bool(waiting) and has_deps)

    def _do_owner_gone(self, uid):
        for key, ns, name in list(self.dependents.get(uid, ())):
            self._do_dep(key, ns, name)

    def _do_owner_uid(self, uid):
        for key, objs in list(self.store.objects.items()):
            for (ns, name), obj in list(objs.items()):
                if obj["metadata"].get("uid") == uid:
                    return self._do_owner(key, ns, name)

    def _do_owner(self, key, ns, name):
        obj = self.store.get(key, ns, name)
        if obj is None or not obj["metadata"].get("deletionTimestamp"):
            return
        uid = obj["metadata"].get("uid")
        fins = list(obj["metadata"].get("finalizers") or [])
        deps = [d for d in list(self.dependents.get(uid, ())) if self.store.get(*d) is not None]
        if "orphan" in fins:
            for dk, dns, dname in deps:
                d = copy_json(self.store.get(dk, dns, dname))
                d["metadata"]["ownerReferences"] = [r for r in self._refs(d) if r.get("uid") != uid]
                if not d["metadata"]["ownerReferences"]:
                    d["metadata"].pop("ownerReferences")
                self.store.write(dk, dns, dname, d)
            fins.remove("orphan")
        elif "foregroundDeletion" in fins:
            for d in deps:
                self._do_dep(*d)
            blocking = False
            for d in deps:
                cur = self.store.get(*d)
                if cur is not None and any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in self._refs(cur)):
                    blocking = True
            if blocking:
                return
            fins.remove("foregroundDeletion")
        else:
            return
        obj = self.store.get(key, ns, name)
        new = copy_json(obj)
        new["metadata"]["finalizers"] = fins
        self._write(key, ns, name, new)
