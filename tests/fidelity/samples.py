"""Parser for the recorded kube-apiserver exchanges in kube-api-samples/*.txt."""
import re


class Block:
    def __init__(self, title):
        self.title = title
        self.sections = []          # [(name, lines)]
        self.annotations_before = []  # '## ...' lines seen before this block

    def section(self, prefix):
        for name, lines in self.sections:
            if name.startswith(prefix):
                return lines
        return None

    def sections_named(self, prefix):
        return [(n, l) for n, l in self.sections if n.startswith(prefix)]


class Request:
    def __init__(self, method, path, headers, body, user):
        self.method = method
        self.path = path
        self.headers = headers      # list of (k, v) excluding Authorization
        self.body = body
        self.user = user            # 'admin', 'alice', ... ; None = no Authorization; '!'+token = literal token


class Response:
    def __init__(self, status, headers, body_lines):
        self.status = status
        self.headers = headers
        self.body_lines = body_lines

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


def parse_file(path):
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    blocks = []
    pending_ann = []
    cur = None
    sec_name = None
    sec_lines = None
    trailing = []
    for line in lines:
        if line.startswith("=============== "):
            if cur is not None and sec_name is not None:
                cur.sections.append((sec_name, sec_lines))
            cur = Block(line[len("=============== "):].strip())
            cur.annotations_before = pending_ann
            pending_ann = []
            blocks.append(cur)
            sec_name, sec_lines = None, None
            continue
        if line.startswith("## "):
            pending_ann.append(line[3:])
            if cur is not None:
                cur.sections.append(("##", [line[3:]]))
            continue
        if line.startswith("# ") or line == "#":
            continue
        if cur is None:
            continue
        if line.startswith("--- "):
            if sec_name is not None:
                cur.sections.append((sec_name, sec_lines))
            sec_name, sec_lines = line[4:].strip(), []
            continue
        if sec_name is not None:
            sec_lines.append(line)
    if cur is not None and sec_name is not None:
        cur.sections.append((sec_name, sec_lines))
    # '## ...' lines after the last block are trailing annotations
    return blocks, pending_ann


def _strip(lines):
    lines = list(lines)
    while lines and lines[-1].strip() == "":
        lines.pop()
    while lines and lines[0].strip() == "" and False:
        lines.pop(0)
    return lines


def parse_request(lines):
    lines = _strip(lines)
    first = lines[0].split(" ", 1)
    method, path = first[0], first[1].strip()
    headers = []
    user = "anonymous-none"
    i = 1
    while i < len(lines) and lines[i].strip() != "":
        l = lines[i]
        if l.startswith("(no Authorization header)"):
            user = None
        elif l.startswith("Authorization:"):
            m = re.match(r"Authorization:\s*Bearer\s+<token>\s+\((\w+)\)", l)
            if m:
                user = m.group(1)
            else:
                user = "!" + l.split("Bearer", 1)[1].strip()
        else:
            k, v = l.split(":", 1)
            headers.append((k.strip(), v.strip()))
        i += 1
    body = "\n".join(lines[i + 1:]) if i < len(lines) else ""
    return Request(method, path, headers, body, user)


def parse_response(lines):
    lines = list(lines)
    while lines and lines[-1].strip() == "":
        lines.pop()
    if not lines or not lines[0].startswith("HTTP/"):
        return None   # e.g. 20: the connection was dropped, no response
    status = int(lines[0].split()[1])
    headers = []
    i = 1
    while i < len(lines) and lines[i].strip() != "":
        k, v = lines[i].split(":", 1)
        headers.append((k.strip(), v.strip()))
        i += 1
    return Response(status, headers, lines[i + 1:])
