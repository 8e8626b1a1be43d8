#pragma once
// A minimal blocking HTTP/1.1 GET over loopback for the metrics/health server tests.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

namespace keygate::metrics::testing {

struct HttpResponse {
  int status = 0;  // 0: no connection / no response
  std::string body;
};

inline HttpResponse httpGet(int port, const std::string& path, const std::string& method = "GET") {
  HttpResponse r;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), 0);
  std::string raw;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto sp = raw.find(' ');
  if (sp == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + sp + 1);
  auto hdrEnd = raw.find("\r\n\r\n");
  std::string headers = hdrEnd == std::string::npos ? raw : raw.substr(0, hdrEnd);
  std::string body = hdrEnd == std::string::npos ? "" : raw.substr(hdrEnd + 4);
  // prometheus-cpp answers with chunked encoding when the client does not ask for gzip.
  if (headers.find("Transfer-Encoding: chunked") != std::string::npos ||
      headers.find("transfer-encoding: chunked") != std::string::npos) {
    std::string out;
    size_t pos = 0;
    while (pos < body.size()) {
      size_t eol = body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t len = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
      if (len == 0) break;
      out += body.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    body = out;
  }
  r.body = body;
  return r;
}

}  // namespace keygate::metrics::testing
