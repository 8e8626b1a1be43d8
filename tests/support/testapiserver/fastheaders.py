"""Request headers without the email package's feed parser.

http.server parses every request's headers with email.parser and answers each
headers.get() through the email policy's value sanitising; in the test API server that
was ~15% of the CPU per request. This parser gives the same result for ordinary header
lines ("Name: value") and hands anything else (continuation lines, a "From " line, a line
that is not a header) to the email parser, so unusual input keeps the standard library's
behaviour exactly. Installed for our handler only: http.client's own responses (webhook
calls) keep the standard parser.
"""
import email.parser
import http.client
import re

# email.feedparser's header-line test, without its "From " and continuation cases.
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]+:")
_standard_parse_headers = http.client.parse_headers


class Headers(http.client.HTTPMessage):
    """HTTPMessage whose get() skips the policy's per-value sanitising: the values were
    decoded from ISO-8859-1 bytes, so they hold no surrogates and nothing changes."""

    def get(self, name, failobj=None):
        name = name.lower()
        for k, v in self._headers:
            if k.lower() == name:
                return v
        return failobj


def parse_headers(fp, _class=http.client.HTTPMessage):
    if not (isinstance(_class, type) and issubclass(_class, Headers)):
        return _standard_parse_headers(fp, _class)
    lines = http.client._read_headers(fp)
    parsed = []
    for raw in lines:
        if raw in (b"\r\n", b"\n", b""):
            break
        line = raw.decode("iso-8859-1")
        if line.endswith("\r\n"):
            line = line[:-2]
        elif line.endswith("\n"):
            line = line[:-1]
        if "\r" in line or not _HEADER_LINE.match(line):
            return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
        name, value = line.split(":", 1)
        parsed.append((name, value.lstrip(" \t")))
    msg = _class()
    for name, value in parsed:
        msg.set_raw(name, value)
    msg.set_payload("")
    return msg


def install():
    http.client.parse_headers = parse_headers
