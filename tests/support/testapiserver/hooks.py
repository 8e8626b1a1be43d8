"""The per-kind behaviour protocol of built-in resources (k8s_builtins, workloads)."""


class Hooks:
    """Per-kind behaviour; every method has a do-nothing default."""
    zero = {}                    # Go zero value of the struct (for managedFields diffs on create)

    def decode(self, obj, r):
        pass

    def prepare_create(self, obj, r):
        pass

    def prepare_update(self, new, old, r):
        pass

    def validate(self, obj, old, r):
        return []
