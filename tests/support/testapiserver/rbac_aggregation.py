"""The built-in view/edit/admin ClusterRoles and kube-controller-manager's ClusterRole aggregation
controller (sample 22).

Bootstrap (as the real bootstrap policy): `admin`, `edit` and `view` with an aggregationRule
selecting `rbac.authorization.k8s.io/aggregate-to-<role>: "true"`; `edit` is itself labelled
aggregate-to-admin and `view` aggregate-to-edit, so view's rules reach edit and admin, edit's reach
admin. Their built-in rules come from `system:aggregate-to-view|edit|admin` (bootstrap_rbac.json,
taken from the recorded `edit` role).

Controller: after any ClusterRole write, every ClusterRole with an aggregationRule gets the
concatenation of the rules of the ClusterRoles its selectors pick (by name order, itself
excluded, exact duplicates dropped); a manual change of an aggregated role is reverted and a
deleted source's rules disappear. It runs on its own thread, woken by the store's watch events,
so results appear a few milliseconds after the write (the real one took 0.03-0.08 s).
"""
import json
import os
import threading
import uuid

import gotime
import workloads   # selector_matches: metav1.LabelSelector matching

KEY = ("rbac.authorization.k8s.io", "clusterroles")
AGG = "rbac.authorization.k8s.io/aggregate-to-"


def _role(name, labels, rules=None, aggregate=None):
    meta = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": gotime.now_rfc3339(),
            "labels": dict({"kubernetes.io/bootstrapping": "rbac-defaults"}, **labels),
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}
    obj = {"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta, "rules": rules or []}
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGG + aggregate: "true"}}]}
    return obj


def bootstrap(store):
    """Writes the six bootstrap ClusterRoles and their aggregated rules (caller holds store.lock)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap_rbac.json")) as f:
        data = json.load(f)
    for role in ("view", "edit", "admin"):
        store.write(KEY, "", "system:aggregate-to-" + role,
                    _role("system:aggregate-to-" + role, {AGG + role: "true"}, data["system:aggregate-to-" + role]), "ADDED")
    store.write(KEY, "", "admin", _role("admin", {}, aggregate="admin"), "ADDED")
    store.write(KEY, "", "edit", _role("edit", {AGG + "admin": "true"}, aggregate="edit"), "ADDED")
    store.write(KEY, "", "view", _role("view", {AGG + "edit": "true"}, aggregate="view"), "ADDED")
    # edit depends on view, admin on edit: settle in dependency order
    for _ in range(3):
        reconcile(store)


def _selected(store, role):
    picked = []
    for sel in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        for other in store.items(KEY):
            name = other["metadata"]["name"]
            if name == role["metadata"]["name"] or any(p["metadata"]["name"] == name for p in picked):
                continue
            if workloads.selector_matches(sel, (other.get("metadata") or {}).get("labels") or {}):
                picked.append(other)
    return sorted(picked, key=lambda o: o["metadata"]["name"])


def reconcile(store):
    """One pass over the aggregated ClusterRoles; returns how many were rewritten."""
    changed = 0
    for role in store.items(KEY):
        if not role.get("aggregationRule"):
            continue
        rules = []
        for src in _selected(store, role):
            for rule in src.get("rules") or []:
                if rule not in rules:
                    rules.append(rule)
        if (role.get("rules") or []) != rules:
            new = dict(role)
            new["rules"] = rules
            store.write(KEY, "", role["metadata"]["name"], new)
            changed += 1
    return changed


class Controller:
    """Watches ClusterRole events and re-aggregates; start() once the server runs."""

    def __init__(self, store):
        self.store = store
        self.wake = threading.Event()
        self.stopped = False

    def _on_event(self, ev):   # called by the store for every event (under its lock)
        if ev.key == KEY:
            self.wake.set()

    def start(self):
        self.store.listeners.append(self._on_event)
        threading.Thread(target=self._run, name="clusterrole-aggregation", daemon=True).start()

    def _run(self):
        while not self.stopped:
            self.wake.wait()
            self.wake.clear()
            with self.store.lock:
                # our own writes wake us again; a pass that changes nothing ends the loop
                for _ in range(5):
                    if not reconcile(self.store):
                        break
