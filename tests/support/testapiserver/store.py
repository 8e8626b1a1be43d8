"""In-memory storage: one global resourceVersion counter (like etcd's revision), objects per
resource, a bounded event history (the 'watch cache') and the registered watchers.

Stored objects are never mutated in place: every write stores a new dict, so readers may
serialise what they got without copying. All access goes through `lock`.
"""
import collections
import threading


class Event:
    __slots__ = ("rv", "type", "key", "ns", "name", "obj", "prev")

    def __init__(self, rv, type_, key, ns, name, obj, prev):
        self.rv = rv
        self.type = type_
        self.key = key
        self.ns = ns
        self.name = name
        self.obj = obj      # ADDED/MODIFIED: new state; DELETED: final state (with the deletion RV)
        self.prev = prev    # state before the change (None for ADDED)


class TooOld(Exception):
    pass


class Store:
    def __init__(self, watch_cache_size=1000, start_rv=100):
        self.lock = threading.RLock()
        self.rv = start_rv
        self.objects = collections.defaultdict(dict)   # storage key -> {(ns, name): obj}
        self.log = collections.deque()
        self.cache_size = max(1, watch_cache_size)
        self.history_start = start_rv   # every event with rv > history_start is in self.log
        self.continue_floor = 0         # continue tokens with an rv below this are expired (410)
        self.watchers = set()
        self.listeners = []             # in-server controllers: listener(ev) for every event, under the lock
        self.last_rv_by_key = {}

    def next_rv(self):
        self.rv += 1
        return self.rv

    def get(self, key, ns, name):
        return self.objects[key].get((ns or "", name))

    def items(self, key, ns=None):
        """Objects of one resource in storage-key order (namespace/name)."""
        objs = self.objects[key]
        keys = sorted(k for k in objs if ns is None or k[0] == ns)
        return [objs[k] for k in keys]

    def _emit(self, ev):
        if len(self.log) >= self.cache_size:
            dropped = self.log.popleft()
            self.history_start = dropped.rv
        self.log.append(ev)
        self.last_rv_by_key[ev.key] = ev.rv
        for w in list(self.watchers):
            w.offer(ev)
        for listener in self.listeners:
            listener(ev)

    def write(self, key, ns, name, obj, type_="auto", rv=None):
        """Stores obj (its metadata.resourceVersion is set here) and emits a watch event."""
        prev = self.objects[key].get((ns or "", name))
        rv = rv or self.next_rv()
        obj = dict(obj)
        obj["metadata"] = dict(obj.get("metadata") or {})
        obj["metadata"]["resourceVersion"] = str(rv)
        self.objects[key][(ns or "", name)] = obj
        if type_ == "auto":
            type_ = "MODIFIED" if prev is not None else "ADDED"
        self._emit(Event(rv, type_, key, ns or "", name, obj, prev))
        return obj

    def delete(self, key, ns, name, final_state=None):
        prev = self.objects[key].pop((ns or "", name), None)
        if prev is None:
            return None
        rv = self.next_rv()
        final = dict(final_state if final_state is not None else prev)
        final["metadata"] = dict(prev.get("metadata") or {})
        final["metadata"]["resourceVersion"] = str(rv)
        self._emit(Event(rv, "DELETED", key, ns or "", name, final, prev))
        return final

    def compact(self):
        self.log.clear()
        self.history_start = self.rv
        self.continue_floor = self.rv

    def snapshot(self, key, ns, rv):
        """Objects of one resource as they were at revision rv (undoing later events)."""
        if rv >= self.rv:
            return self.items(key, ns)
        if rv < self.history_start:
            raise TooOld()
        state = {k: v for k, v in self.objects[key].items() if ns is None or k[0] == ns}
        for ev in reversed(self.log):
            if ev.rv <= rv:
                break
            if ev.key != key or (ns is not None and ev.ns != ns):
                continue
            k = (ev.ns, ev.name)
            if ev.prev is None:
                state.pop(k, None)
            else:
                state[k] = ev.prev
        return [state[k] for k in sorted(state)]

    def events_after(self, rv):
        if rv < self.history_start:
            raise TooOld()
        return [ev for ev in self.log if ev.rv > rv]
