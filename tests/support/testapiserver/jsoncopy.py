"""A deep copy for JSON-shaped data (dict/list/str/int/float/bool/None), several times
faster than copy.deepcopy: no memo, no reduce protocol. Anything else (e.g. wire.DupDict,
which carries duplicate-key paths) falls back to copy.deepcopy so nothing is lost."""
import copy

_SCALARS = (str, int, float, bool, type(None))


def copy_json(v):
    t = type(v)
    if t is dict:
        return {k: copy_json(x) for k, x in v.items()}
    if t is list:
        return [copy_json(x) for x in v]
    if t in _SCALARS:
        return v
    return copy.deepcopy(v)
