"""Order of API groups in discovery: built-in groups in kube-apiserver's order, then CRD groups."""
import k8s_builtins


def ordered_groups(groups):
    known = [g for g in k8s_builtins.GROUP_ORDER if g in groups]
    return known + [g for g in groups if g not in k8s_builtins.GROUP_ORDER]
