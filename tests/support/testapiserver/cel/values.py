"""CEL runtime values that Python has no native type for, and the runtime error."""
import datetime
import re

from .syntax import UInt  # noqa: F401  (re-exported)

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1


class EvalError(Exception):
    def __init__(self, msg):
        super().__init__(msg)
        self.msg = msg

    def __str__(self):
        return self.msg


class Obj:
    """An object (schema with properties) value; fields keyed by their CEL (escaped) names."""
    __slots__ = ("tname", "fields")

    def __init__(self, tname, fields):
        self.tname = tname
        self.fields = fields

    def __eq__(self, other):
        return isinstance(other, Obj) and self.fields == other.fields

    def __hash__(self):
        return 0

    def __repr__(self):
        return "Obj(%r)" % (self.fields,)


class Duration:
    __slots__ = ("ns",)

    def __init__(self, ns):
        self.ns = ns

    def __eq__(self, o):
        return isinstance(o, Duration) and o.ns == self.ns

    def __hash__(self):
        return hash(self.ns)

    def __repr__(self):
        return "duration(%s)" % format_duration(self)


class Timestamp:
    __slots__ = ("ns",)

    def __init__(self, ns):
        self.ns = ns

    def __eq__(self, o):
        return isinstance(o, Timestamp) and o.ns == self.ns

    def __hash__(self):
        return hash(self.ns)

    def __repr__(self):
        return "timestamp(%s)" % format_timestamp(self)


class TypeVal:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __eq__(self, o):
        return isinstance(o, TypeVal) and o.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return self.name


# --- durations (Go time.ParseDuration) -------------------------------------------------------------

_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10 ** 6, "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_DUR = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(s):
    orig = s
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return Duration(0)
    if not s:
        raise ValueError('time: invalid duration "%s"' % orig)
    total = 0
    pos = 0
    while pos < len(s):
        m = _DUR.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError('time: invalid duration "%s"' % orig)
        num = m.group(1)
        unit = _UNITS[m.group(2)]
        if "." in num:
            whole, frac = num.split(".")
            total += int(whole or 0) * unit + (int(frac) * unit) // (10 ** len(frac)) if frac else int(whole or 0) * unit
        else:
            total += int(num) * unit
        pos = m.end()
    if total > INT64_MAX:
        raise ValueError('time: invalid duration "%s"' % orig)
    return Duration(-total if neg else total)


def format_duration(d):
    """CEL string(duration): seconds with 's' (e.g. 3600s, 1.5s)."""
    ns = d.ns
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    secs, frac = divmod(ns, 10 ** 9)
    if frac:
        return "%s%d.%s s".replace(" ", "") % (sign, secs, ("%09d" % frac).rstrip("0"))
    return "%s%ds" % (sign, secs)


# --- timestamps (RFC 3339) ---------------------------------------------------------------------------

_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def parse_timestamp(s):
    m = _TS.match(s)
    if not m:
        raise ValueError("timestamp")
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7)
    tz = m.group(8)
    off = 0
    if tz not in ("Z", "z"):
        off = (int(tz[1:3]) * 60 + int(tz[4:6])) * 60 * (1 if tz[0] == "+" else -1)
    dt = datetime.datetime(y, mo, d, h, mi, se, tzinfo=datetime.timezone.utc)
    secs = int((dt - _EPOCH).total_seconds()) - off
    ns = int((frac[1:] + "000000000")[:9]) if frac else 0
    return Timestamp(secs * 10 ** 9 + ns)


def ts_datetime(t, tz=None):
    secs, ns = divmod(t.ns, 10 ** 9)
    dt = _EPOCH + datetime.timedelta(seconds=secs)
    if tz:
        dt = dt.astimezone(_tzinfo(tz))
    return dt, ns


def _tzinfo(tz):
    m = re.match(r"^([+-]?)(\d{1,2}):(\d{2})$", tz)
    if m:
        mins = int(m.group(2)) * 60 + int(m.group(3))
        return datetime.timezone(datetime.timedelta(minutes=-mins if m.group(1) == "-" else mins))
    if tz in ("UTC", "Z"):
        return datetime.timezone.utc
    try:
        import zoneinfo
        return zoneinfo.ZoneInfo(tz)
    except Exception:
        raise EvalError("unknown time zone %s" % tz)


def format_timestamp(t):
    dt, ns = ts_datetime(t)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ns:
        s += "." + ("%09d" % ns).rstrip("0")
    return s + "Z"
