"""Watch streams: a per-watch queue fed by the store (so a slow client never blocks writers),
filtering by namespace/selectors with the real server's DELETED/ADDED transitions, and bookmarks."""
import queue
import time

import label_selectors as selectors

CLOSE = object()   # sentinel: end the stream now (fault injection, shutdown)


class Watcher:
    def __init__(self, resource, ns, label_reqs, field_reqs, start_rv, convert):
        self.resource = resource
        self.key = resource.storage_key
        self.ns = ns
        self.label_reqs = label_reqs
        self.field_reqs = field_reqs
        self.start_rv = start_rv
        self.convert = convert       # storage object -> object in the watched version
        self.queue = queue.Queue()
        self.last_rv = 0             # last event of this resource seen (bookmark RV)
        self.abrupt = False

    def offer(self, ev):
        if ev.key == self.key:
            self.queue.put(ev)

    def close(self, abrupt=False):
        self.abrupt = abrupt
        self.queue.put(CLOSE)

    def _matches(self, obj):
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.ns is not None and (meta.get("namespace") or "") != self.ns:
            return False
        if not selectors.label_matches(self.label_reqs, meta.get("labels")):
            return False
        return selectors.field_matches(self.field_reqs, obj, self.resource.field_selectors)

    def translate(self, ev):
        """Watch event (type, object) for this watcher, or None when it does not concern it."""
        if ev.rv <= (self.start_rv or 0):
            return None   # e.g. a watch from a future RV stays silent until the store reaches it
        self.last_rv = max(self.last_rv, ev.rv)
        if ev.type == "DELETED":
            return ("DELETED", self.convert(ev.obj)) if self._matches(ev.prev) else None
        now = self._matches(ev.obj)
        before = self._matches(ev.prev) if ev.prev is not None else False
        if now and before:
            return ("MODIFIED", self.convert(ev.obj))
        if now:
            return ("ADDED", self.convert(ev.obj))
        if before:
            # no longer matches: DELETED with the previous state but the new resourceVersion
            old = dict(ev.prev)
            old["metadata"] = dict(old.get("metadata") or {})
            old["metadata"]["resourceVersion"] = str(ev.rv)
            return ("DELETED", self.convert(old))
        return None


class BookmarkClock:
    """When to send BOOKMARKs: every `interval` seconds and ~2 s before a timeoutSeconds deadline,
    only once an event of this resource newer than the watch's start RV was processed."""

    def __init__(self, interval, deadline):
        self.interval = interval
        self.deadline = deadline
        self.next = time.monotonic() + interval
        if deadline is not None:
            self.next = min(self.next, deadline - 2.0)

    def due(self, now):
        return now >= self.next

    def sent(self, now):
        self.next = now + self.interval
        if self.deadline is not None and self.next > self.deadline - 2.0 and now < self.deadline - 2.0:
            self.next = self.deadline - 2.0
