"""Go time parsing/formatting as the API server does it (Time: RFC3339 seconds; MicroTime: 6 digits)."""
import datetime
import re

MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"


class TimeError(Exception):
    pass


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro(value):
    """Parses a MicroTime exactly like metav1.MicroTime.UnmarshalJSON; returns the normalised UTC text.

    Raises TimeError with Go's message: parsing time "v" as "layout": cannot parse "rest" as "elem".
    """
    def fail(rest, elem):
        raise TimeError('parsing time %s as "%s": cannot parse "%s" as "%s"' % (_q(value), MICRO_LAYOUT, rest, elem))

    s = value
    pos = 0
    parts = {}
    for elem, width, lit_before in (("2006", 4, ""), ("01", 2, "-"), ("02", 2, "-"), ("15", 2, "T"),
                                    ("04", 2, ":"), ("05", 2, ":")):
        if lit_before:
            if not s[pos:].startswith(lit_before):
                fail(s[pos:], lit_before)
            pos += len(lit_before)
        chunk = s[pos:pos + width]
        if len(chunk) != width or not chunk.isdigit():
            fail(s[pos:], elem)
        parts[elem] = int(chunk)
        pos += width
    m = re.match(r"\.(\d{6})", s[pos:])
    if not m or (len(s) > pos + 7 and s[pos + 7].isdigit() and False):
        fail(s[pos:], ".000000")
    micro = int(m.group(1))
    pos += 7
    rest = s[pos:]
    if rest == "Z":
        offset = 0
    else:
        m2 = re.fullmatch(r"([+-])(\d{2}):(\d{2})", rest)
        if not m2:
            fail(rest, "Z07:00")
        offset = (int(m2.group(2)) * 60 + int(m2.group(3))) * (1 if m2.group(1) == "+" else -1)
    try:
        dt = datetime.datetime(parts["2006"], parts["01"], parts["02"], parts["15"], parts["04"], parts["05"], micro,
                               tzinfo=datetime.timezone(datetime.timedelta(minutes=offset)))
    except ValueError as e:
        raise TimeError('parsing time %s: %s' % (_q(value), e))
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value):
    """metav1.Time (RFC3339). Returns normalised text (seconds, UTC)."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})", value or "")
    if not m:
        raise TimeError('parsing time %s as "2006-01-02T15:04:05Z07:00": cannot parse %s as "2006"' % (_q(value), _q(value)))
    tz = m.group(8)
    off = 0 if tz == "Z" else (int(tz[1:3]) * 60 + int(tz[4:6])) * (1 if tz[0] == "+" else -1)
    dt = datetime.datetime(*[int(m.group(i)) for i in range(1, 7)],
                           tzinfo=datetime.timezone(datetime.timedelta(minutes=off)))
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(ts):
    """Human age like kubectl's (used for Table 'date' columns): 0s, 5m, 3h, 2d."""
    try:
        then = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    secs = int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())
    if secs < 0:
        secs = 0
    if secs < 120:
        return "%ds" % secs
    mins = secs // 60
    if mins < 10:
        s = secs % 60
        return "%dm%ds" % (mins, s) if s else "%dm" % mins
    if mins < 60 * 3:
        return "%dm" % mins
    hours = mins // 60
    if hours < 8:
        m = mins % 60
        return "%dh%dm" % (hours, m) if m else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    days = hours // 24
    return "%dd" % days


def _q(s):
    import json
    return json.dumps(s, ensure_ascii=False)
