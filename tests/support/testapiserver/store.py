"""In-memory storage: one global resourceVersion counter (like etcd's revision), objects per
resource, a bounded event history (the 'watch cache') and the registered watchers.

Stored objects are never mutated in place: every write stores a new dict, so readers may
serialise what they got without copying. All access goes through `lock`.
"""
import bisect
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


def _order_string(k):
    return k[0] + "/" + k[1]


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
        self._order = {}                # storage key -> (order strings, keys), sorted; rebuilt after a create or delete

    def next_rv(self):
        self.rv += 1
        return self.rv

    def get(self, key, ns, name):
        return self.objects[key].get((ns or "", name))

    def _ordered(self, key):
        """The keys of one resource in etcd's order: by the string "namespace/name" (a cluster-scoped
        object's namespace is ""), as etcd orders /registry/<resource>/<namespace>/<name>. Not the
        order of (namespace, name) tuples: namespace "a-b" comes before "a" ('-' < '/')."""
        cached = self._order.get(key)
        if cached is None:
            keys = sorted(self.objects[key], key=_order_string)
            cached = ([_order_string(k) for k in keys], keys)
            self._order[key] = cached
        return cached

    def _span(self, strs, ns):
        """Index range of namespace ns (None: all) in an order-string list."""
        if ns is None:
            return 0, len(strs)
        # A namespace holds no '/', so exactly its keys start with "ns/"; '0' follows '/'.
        return bisect.bisect_left(strs, ns + "/"), bisect.bisect_left(strs, ns + "0")

    def items(self, key, ns=None):
        """Objects of one resource in etcd's key order (see _ordered)."""
        strs, keys = self._ordered(key)
        lo, hi = self._span(strs, ns)
        objs = self.objects[key]
        return [objs[k] for k in keys[lo:hi]]

    def range(self, key, ns, rv, after=None):
        """Objects of one resource (of namespace ns, or all) as they were at revision rv, in key
        order, those whose order string ("namespace/name") is greater than `after` only. Returns
        (how many there are, an iterator over them): a page of a large list costs the page, not
        the whole list. Call and iterate under the lock."""
        if rv < self.rv and rv < self.history_start:
            raise TooOld()
        strs, keys = self._ordered(key)
        lo, hi = self._span(strs, ns)
        if after is not None:
            lo = max(lo, bisect.bisect_right(strs, after))
        objs = self.objects[key]
        undo = {}   # key -> its state at rv (None: did not exist), for keys changed since rv
        if rv < self.rv:
            for ev in reversed(self.log):
                if ev.rv <= rv:
                    break
                if ev.key != key or (ns is not None and ev.ns != ns):
                    continue
                undo[(ev.ns, ev.name)] = ev.prev   # the earliest change after rv wins: its prev is the state at rv
        if not undo:
            return max(0, hi - lo), (objs[k] for k in keys[lo:hi])
        # Keys that existed at rv but not now (deleted since), in order, after `after`.
        extra = sorted((_order_string(k), k) for k, prev in undo.items()
                       if prev is not None and k not in objs and (after is None or _order_string(k) > after))
        gone = sum(1 for k, prev in undo.items() if prev is None and k in objs
                   and lo <= bisect.bisect_left(strs, _order_string(k)) < hi)
        count = (hi - lo) - gone + len(extra)

        def walk():
            e = 0
            for i in range(lo, hi):
                s = strs[i]
                while e < len(extra) and extra[e][0] < s:
                    yield undo[extra[e][1]]
                    e += 1
                k = keys[i]
                if k in undo:
                    if undo[k] is not None:
                        yield undo[k]
                else:
                    yield objs[k]
            for _, k in extra[e:]:
                yield undo[k]
        return count, walk()

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
        if prev is None:
            self._order.pop(key, None)
        if type_ == "auto":
            type_ = "MODIFIED" if prev is not None else "ADDED"
        self._emit(Event(rv, type_, key, ns or "", name, obj, prev))
        return obj

    def delete(self, key, ns, name, final_state=None):
        prev = self.objects[key].pop((ns or "", name), None)
        if prev is None:
            return None
        self._order.pop(key, None)
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
        return list(self.range(key, ns, rv)[1])

    def events_after(self, rv):
        if rv < self.history_start:
            raise TooOld()
        return [ev for ev in self.log if ev.rv > rv]
