"""In-memory object store for kubesim: one global monotonic resourceVersion, a bounded
event history for watch replay, per-watcher queues so watchers never wait on the lock."""
import collections
import copy
import queue
import threading


class Gone(Exception):
    """The asked-for resourceVersion is older than the kept history (-> 410)."""


class Watcher:
    """A registered watch: events for one (group, resource), optionally one namespace."""

    def __init__(self, gr, namespace, maxsize):
        self.gr = gr
        self.namespace = namespace
        self.q = queue.Queue(maxsize=maxsize)
        self.overflowed = False

    def offer(self, ev):
        try:
            self.q.put_nowait(ev)
        except queue.Full:
            # a watcher that cannot keep up is closed, as the real apiserver does
            self.overflowed = True


class Store:
    """Objects are keyed by (group, resource) -> {(namespace, name): obj}. Objects stored
    are owned by the store: callers get deep copies."""

    def __init__(self, history=10000, watcher_queue=100000):
        self.lock = threading.RLock()
        self.rv = 1
        self.objects = collections.defaultdict(dict)
        self.history = collections.deque(maxlen=max(1, history))
        self.watchers = set()
        self.watcher_queue = watcher_queue
        self.by_uid = {}  # uid -> (gr, ns, name)
        self.changed = threading.Condition(threading.Lock())  # for GC / controllers

    # --- reads -----------------------------------------------------------
    def get(self, gr, ns, name):
        with self.lock:
            o = self.objects[gr].get((ns, name))
            return copy.deepcopy(o) if o is not None else None

    def list(self, gr, ns=None, pred=None):
        """(items sorted by ns/name, resourceVersion) - deep copies."""
        with self.lock:
            items = []
            for (ons, _n), o in sorted(self.objects[gr].items()):
                if ns is not None and ons != ns:
                    continue
                if pred is not None and not pred(o):
                    continue
                items.append(copy.deepcopy(o))
            return items, str(self.rv)

    def list_after(self, gr, ns, after_key, limit, pred=None):
        """Sorted page starting strictly after after_key ((ns, name) or None).
        Returns (items, last_key, remaining, rv); remaining is exact without a predicate,
        otherwise 1 when more matches exist. Items are the stored objects themselves:
        stored objects are never mutated in place (writes replace them), so callers may
        read and serialise them but must copy before changing anything."""
        with self.lock:
            objs = self.objects[gr]
            keys = sorted(k for k in objs if ns is None or k[0] == ns)
            if after_key is not None:
                import bisect
                keys = keys[bisect.bisect_right(keys, after_key):]
            out = []
            last = None
            remaining = 0
            for i, k in enumerate(keys):
                o = objs[k]
                if pred is not None and not pred(o):
                    continue
                if limit and len(out) >= limit:
                    remaining = (len(keys) - i) if pred is None else 1
                    break
                out.append(o)
                last = k
            return out, last, remaining, str(self.rv)

    def current_rv(self):
        with self.lock:
            return str(self.rv)

    def uid_exists(self, uid):
        with self.lock:
            return uid in self.by_uid

    def lookup_uid(self, uid):
        with self.lock:
            return self.by_uid.get(uid)

    def all_keys(self):
        with self.lock:
            return [(gr, k) for gr, objs in self.objects.items() for k in objs]

    # --- writes ----------------------------------------------------------
    def next_rv(self):
        """Advance the global counter (caller holds the lock)."""
        self.rv += 1
        return str(self.rv)

    def _emit(self, gr, etype, obj, prev):
        # prev (the object before this change) lets selector watches turn "started/stopped
        # matching" into ADDED/DELETED as the real watch cache does
        ev = (int(obj["metadata"]["resourceVersion"]), gr, obj["metadata"].get("namespace", ""), etype,
              copy.deepcopy(obj), prev)
        self.history.append(ev)
        for w in list(self.watchers):
            if w.gr == gr and (w.namespace is None or w.namespace == ev[2]):
                w.offer(ev)
        with self.changed:
            self.changed.notify_all()

    def put(self, gr, obj, etype):
        """Store obj (already carrying a fresh resourceVersion from next_rv) and emit
        etype (ADDED/MODIFIED). Caller holds the lock."""
        md = obj["metadata"]
        ns = md.get("namespace", "")
        prev = self.objects[gr].get((ns, md["name"]))
        self.objects[gr][(ns, md["name"])] = copy.deepcopy(obj)
        self.by_uid[md["uid"]] = (gr, ns, md["name"])
        self._emit(gr, etype, obj, prev)

    def remove(self, gr, ns, name):
        """Remove and emit DELETED with a fresh resourceVersion. Caller holds the lock."""
        o = self.objects[gr].pop((ns, name), None)
        if o is None:
            return None
        self.by_uid.pop(o["metadata"].get("uid"), None)
        prev = o
        o = copy.deepcopy(o)
        o["metadata"]["resourceVersion"] = self.next_rv()
        self._emit(gr, "DELETED", o, prev)
        return copy.deepcopy(o)

    def drop_resource(self, gr):
        with self.lock:
            for (ns, name) in list(self.objects.get(gr, {})):
                self.remove(gr, ns, name)
            self.objects.pop(gr, None)

    # --- watch -----------------------------------------------------------
    def watch(self, gr, ns, since_rv, initial_pred=None):
        """Register a watcher. since_rv None/0: synthetic ADDED for the current state
        (filtered by initial_pred); since_rv N: history after N (Gone if too old).
        Returns (watcher, initial_events)."""
        with self.lock:
            initial = []
            if not since_rv:
                for (ons, _n), o in sorted(self.objects[gr].items()):
                    if ns is not None and ons != ns:
                        continue
                    initial.append((int(o["metadata"]["resourceVersion"]), gr, ons, "ADDED", copy.deepcopy(o), None))
            else:
                # every rv increment is one event, so the history covers rv > first-1
                if self.history and since_rv < self.history[0][0] - 1:
                    raise Gone("too old resource version: %d (%d)" % (since_rv, self.history[0][0] - 1))
                for ev in self.history:
                    if ev[0] > since_rv and ev[1] == gr and (ns is None or ev[2] == ns):
                        initial.append(ev)
            w = Watcher(gr, ns, self.watcher_queue)
            self.watchers.add(w)
            return w, initial

    def unwatch(self, w):
        with self.lock:
            self.watchers.discard(w)

    def watcher_count(self):
        with self.lock:
            return len(self.watchers)
