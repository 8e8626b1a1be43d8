"""Function declarations of Kubernetes 1.28's CEL environment: the cel-go standard library plus the
Kubernetes libraries used in CRD rules (ext strings, lists, regex).

Each overload: (overload id, member?, [argument types, receiver first for member calls], result type).
"""
from .celtypes import (A, B, BOOL, BYTES, DOUBLE, DURATION, DYN, INT, STRING, TIMESTAMP, UINT, List, Map,
                       Type)

FUNCS = {}


def decl(fn, oid, member, args, result):
    FUNCS.setdefault(fn, []).append((oid, member, list(args), result))


_NUM = [("int64", INT), ("uint64", UINT), ("double", DOUBLE)]

decl("_==_", "equals", False, [A, A], BOOL)
decl("_!=_", "not_equals", False, [A, A], BOOL)
for op, name in (("_<_", "less"), ("_<=_", "less_equals"), ("_>_", "greater"), ("_>=_", "greater_equals")):
    for tn, t in [("bool", BOOL), ("int64", INT), ("uint64", UINT), ("double", DOUBLE), ("string", STRING),
                  ("bytes", BYTES), ("timestamp", TIMESTAMP), ("duration", DURATION)]:
        decl(op, "%s_%s" % (name, tn), False, [t, t], BOOL)
    for an, at in _NUM:
        for bn, bt in _NUM:
            if an != bn:
                decl(op, "%s_%s_%s" % (name, an, bn), False, [at, bt], BOOL)
for tn, t in _NUM:
    decl("_+_", "add_" + tn, False, [t, t], t)
    decl("_-_", "subtract_" + tn, False, [t, t], t)
    decl("_*_", "multiply_" + tn, False, [t, t], t)
    decl("_/_", "divide_" + tn, False, [t, t], t)
for tn, t in _NUM[:2]:
    decl("_%_", "modulo_" + tn, False, [t, t], t)
decl("_+_", "add_string", False, [STRING, STRING], STRING)
decl("_+_", "add_bytes", False, [BYTES, BYTES], BYTES)
decl("_+_", "add_list", False, [List(A), List(A)], List(A))
decl("_+_", "add_timestamp_duration", False, [TIMESTAMP, DURATION], TIMESTAMP)
decl("_+_", "add_duration_timestamp", False, [DURATION, TIMESTAMP], TIMESTAMP)
decl("_+_", "add_duration_duration", False, [DURATION, DURATION], DURATION)
decl("_-_", "subtract_timestamp_timestamp", False, [TIMESTAMP, TIMESTAMP], DURATION)
decl("_-_", "subtract_timestamp_duration", False, [TIMESTAMP, DURATION], TIMESTAMP)
decl("_-_", "subtract_duration_duration", False, [DURATION, DURATION], DURATION)
decl("-_", "negate_int64", False, [INT], INT)
decl("-_", "negate_double", False, [DOUBLE], DOUBLE)
decl("!_", "logical_not", False, [BOOL], BOOL)
decl("_&&_", "logical_and", False, [BOOL, BOOL], BOOL)
decl("_||_", "logical_or", False, [BOOL, BOOL], BOOL)
decl("_?_:_", "conditional", False, [BOOL, A, A], A)
decl("@not_strictly_false", "not_strictly_false", False, [BOOL], BOOL)
decl("_[_]", "index_list", False, [List(A), INT], A)
decl("_[_]", "index_map", False, [Map(A, B), A], B)
decl("@in", "in_list", False, [A, List(A)], BOOL)
decl("@in", "in_map", False, [A, Map(A, B)], BOOL)
for tn, t in (("string", STRING), ("bytes", BYTES), ("list", List(A)), ("map", Map(A, B))):
    decl("size", "size_" + tn, False, [t], INT)
    decl("size", tn + "_size", True, [t], INT)
decl("contains", "contains_string", True, [STRING, STRING], BOOL)
decl("startsWith", "starts_with_string", True, [STRING, STRING], BOOL)
decl("endsWith", "ends_with_string", True, [STRING, STRING], BOOL)
decl("matches", "matches_string", True, [STRING, STRING], BOOL)
decl("matches", "matches", False, [STRING, STRING], BOOL)
for src_n, src in (("int64", INT), ("uint64", UINT), ("double", DOUBLE), ("string", STRING), ("timestamp", TIMESTAMP)):
    decl("int", "%s_to_int64" % src_n if src_n != "int64" else "int64_to_int64", False, [src], INT)
for src_n, src in (("int64", INT), ("uint64", UINT), ("double", DOUBLE), ("string", STRING)):
    decl("uint", "%s_to_uint64" % src_n, False, [src], UINT)
    decl("double", "%s_to_double" % src_n, False, [src], DOUBLE)
for src_n, src in (("int64", INT), ("uint64", UINT), ("double", DOUBLE), ("string", STRING), ("bytes", BYTES),
                   ("bool", BOOL), ("timestamp", TIMESTAMP), ("duration", DURATION)):
    decl("string", "%s_to_string" % src_n, False, [src], STRING)
decl("bytes", "bytes_to_bytes", False, [BYTES], BYTES)
decl("bytes", "string_to_bytes", False, [STRING], BYTES)
decl("bool", "bool_to_bool", False, [BOOL], BOOL)
decl("bool", "string_to_bool", False, [STRING], BOOL)
decl("dyn", "to_dyn", False, [A], DYN)
decl("type", "type", False, [A], Type(A))
decl("duration", "string_to_duration", False, [STRING], DURATION)
decl("duration", "duration_to_duration", False, [DURATION], DURATION)
decl("timestamp", "string_to_timestamp", False, [STRING], TIMESTAMP)
decl("timestamp", "int64_to_timestamp", False, [INT], TIMESTAMP)
decl("timestamp", "timestamp_to_timestamp", False, [TIMESTAMP], TIMESTAMP)
for g in ("getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek", "getHours",
          "getMinutes", "getSeconds", "getMilliseconds"):
    decl(g, "timestamp_to_" + g, True, [TIMESTAMP], INT)
    decl(g, "timestamp_to_%s_with_tz" % g, True, [TIMESTAMP, STRING], INT)
for g in ("getHours", "getMinutes", "getSeconds", "getMilliseconds"):
    decl(g, "duration_to_" + g, True, [DURATION], INT)

# ext strings (Kubernetes 1.28: cel-go ext.Strings version 2)
decl("charAt", "string_char_at_int", True, [STRING, INT], STRING)
decl("indexOf", "string_index_of_string", True, [STRING, STRING], INT)
decl("indexOf", "string_index_of_string_int", True, [STRING, STRING, INT], INT)
decl("lastIndexOf", "string_last_index_of_string", True, [STRING, STRING], INT)
decl("lastIndexOf", "string_last_index_of_string_int", True, [STRING, STRING, INT], INT)
decl("lowerAscii", "string_lower_ascii", True, [STRING], STRING)
decl("upperAscii", "string_upper_ascii", True, [STRING], STRING)
decl("replace", "string_replace_string_string", True, [STRING, STRING, STRING], STRING)
decl("replace", "string_replace_string_string_int", True, [STRING, STRING, STRING, INT], STRING)
decl("split", "string_split_string", True, [STRING, STRING], List(STRING))
decl("split", "string_split_string_int", True, [STRING, STRING, INT], List(STRING))
decl("substring", "string_substring_int", True, [STRING, INT], STRING)
decl("substring", "string_substring_int_int", True, [STRING, INT, INT], STRING)
decl("trim", "string_trim", True, [STRING], STRING)
decl("join", "list_join", True, [List(STRING)], STRING)
decl("join", "list_join_string", True, [List(STRING), STRING], STRING)
decl("format", "string_format", True, [STRING, List(DYN)], STRING)
decl("quote", "strings_quote", False, [STRING], STRING)

# Kubernetes lists library
for tn, t in (("int", INT), ("uint", UINT), ("double", DOUBLE), ("bool", BOOL), ("string", STRING),
              ("bytes", BYTES), ("duration", DURATION), ("timestamp", TIMESTAMP)):
    decl("isSorted", "list_%s_is_sorted_bool" % tn, True, [List(t)], BOOL)
    decl("min", "list_%s_min_%s" % (tn, tn), True, [List(t)], t)
    decl("max", "list_%s_max_%s" % (tn, tn), True, [List(t)], t)
for tn, t in (("int", INT), ("uint", UINT), ("double", DOUBLE), ("duration", DURATION)):
    decl("sum", "list_%s_sum_%s" % (tn, tn), True, [List(t)], t)
decl("indexOf", "list_a_index_of_int", True, [List(A), A], INT)
decl("lastIndexOf", "list_a_last_index_of_int", True, [List(A), A], INT)

# Kubernetes regex library
decl("find", "string_find_string", True, [STRING, STRING], STRING)
decl("findAll", "string_find_all_string", True, [STRING, STRING], List(STRING))
decl("findAll", "string_find_all_string_int", True, [STRING, STRING, INT], List(STRING))

# Kubernetes url library (isURL only; url() objects are not modelled)
decl("isURL", "is_url_string", False, [STRING], BOOL)

TYPE_IDENTS = {"int": INT, "uint": UINT, "double": DOUBLE, "bool": BOOL, "string": STRING, "bytes": BYTES,
               "list": List(DYN), "map": Map(DYN, DYN), "null_type": None, "type": None, "dyn": DYN,
               "google.protobuf.Duration": DURATION, "google.protobuf.Timestamp": TIMESTAMP}
