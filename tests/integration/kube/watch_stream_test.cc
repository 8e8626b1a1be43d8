// The watch stream's line reader over the real (libcurl) transport, against a raw HTTP/1.1
// server whose chunks split lines anywhere: a line across chunks, CRLF, many lines in one
// chunk, a last line without its newline, a line over the limit, a connection cut mid-line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "kube/transport.h"

namespace keygate::kube {
namespace {

using ::testing::HasSubstr;

// Accepts one connection, reads the request head, answers 200 with chunked encoding: each
// element of `chunks` is one chunk, sent 20 ms apart. `end` false: the connection is cut
// without the last chunk.
class ChunkServer {
 public:
  // sized: a Content-Length body (declaring `extra` bytes more than the chunks hold: a cut)
  // sent in the same pieces, instead of chunked transfer encoding.
  ChunkServer(std::vector<std::string> chunks, bool end, bool sized = false, size_t extra = 0)
      : chunks_(std::move(chunks)), end_(end), sized_(sized), extra_(extra) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "cannot listen";
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ChunkServer() {
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    if (sized_) {
      size_t total = extra_;
      for (const std::string& chunk : chunks_) total += chunk.size();
      send(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n");
      for (const std::string& chunk : chunks_) {
        send(c, chunk);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::shutdown(c, SHUT_RDWR);
      ::close(c);
      return;
    }
    send(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (const std::string& chunk : chunks_) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
      send(c, size + chunk + "\r\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(gapMs_));
    }
    if (end_) send(c, "0\r\n\r\n");
    // Holding: the connection stays open, silent, until the client goes or 10 s pass.
    for (int i = 0; hold_ && i < 1000; ++i) {
      char b;
      if (::recv(c, &b, 1, MSG_DONTWAIT) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::shutdown(c, SHUT_RDWR);
    ::close(c);
  }
  static void send(int c, const std::string& s) { (void)::send(c, s.data(), s.size(), MSG_NOSIGNAL); }

  std::vector<std::string> chunks_;
  bool end_;
  bool sized_;
  size_t extra_;

 public:
  std::atomic<bool> hold_{false};  // set before the client connects
  std::atomic<int> gapMs_{20};      // between chunks

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

HttpStreamPtr open(const ChunkServer& s, size_t maxLine = 64u << 20) {
  TransportConfig cfg;
  cfg.server = s.url();
  cfg.maxLineBytes = maxLine;
  auto t = makeHttpTransport(cfg);
  EXPECT_TRUE(t.ok()) << t.error().toString();
  if (!t.ok()) return nullptr;
  auto st = (*t)->stream(HttpRequest{"GET", "/apis/x/v1/widgets?watch=1", {}, ""});
  EXPECT_TRUE(st.ok()) << st.error().toString();
  return st.ok() ? std::move(*st) : nullptr;
}

// One ordinary request to `s` through a fresh transport.
Result<HttpResponse> fetch(const ChunkServer& s, size_t maxResponseBytes = 256u << 20) {
  TransportConfig cfg;
  cfg.server = s.url();
  cfg.maxResponseBytes = maxResponseBytes;
  auto t = makeHttpTransport(cfg);
  if (!t.ok()) return t.takeError();
  return (*t)->send(HttpRequest{"GET", "/apis/x/v1/widgets", {}, ""});
}

std::vector<std::string> readAllLines(HttpStream& st, Error* err = nullptr) {
  std::vector<std::string> out;
  for (;;) {
    auto l = st.readLine();
    if (!l.ok()) {
      if (err) *err = l.error();
      return out;
    }
    if (!*l) return out;
    out.push_back(**l);
  }
}

// An ordinary response's body is exactly what the server sent: the former cpprestsdk transport's
// string buffer grew by each read's whole size, and it used to hand out the bodies of every REST call
// with 256 KiB of NUL bytes after the JSON (nlohmann stops at a NUL, so nobody noticed; the
// allocation and zeroing were paid on every call). The same for a stream's readAll.
TEST(TransportBodyTest, ABodyIsExactlyWhatTheServerSent) {
  const std::string big(300 * 1024, 'x');
  for (const auto& chunks : std::vector<std::vector<std::string>>{{"{\"a\":", "1}\n"}, {big, "tail"}}) {
    std::string want;
    for (const auto& c : chunks) want += c;
    {
      ChunkServer s(chunks, true);
      auto resp = fetch(s);
      ASSERT_TRUE(resp.ok()) << resp.error().toString();
      EXPECT_EQ(resp->body.size(), want.size());
      EXPECT_TRUE(resp->body == want);
    }
    {
      ChunkServer s(chunks, true);
      auto st = open(s);
      ASSERT_TRUE(st);
      auto all = st->readAll();
      ASSERT_TRUE(all.ok()) << all.error().toString();
      EXPECT_EQ(all->size(), want.size());
      EXPECT_TRUE(*all == want);
    }
  }
}

// A body with a Content-Length is read straight into its string, whatever pieces it arrives
// in; one longer than the limit is refused before it is read, and one cut short is an error,
// never a short body handed on as if whole.
TEST(TransportBodyTest, ASizedBodyIsReadWholeRefusedOverTheLimitAndACutIsAnError) {
  const std::string big(300 * 1024, 'y');
  for (const auto& chunks : std::vector<std::vector<std::string>>{{"{\"a\":", "1}\n"}, {big, "tail"}, {""}}) {
    std::string want;
    for (const auto& c : chunks) want += c;
    ChunkServer s(chunks, true, true);
    auto resp = fetch(s);
    ASSERT_TRUE(resp.ok()) << resp.error().toString();
    EXPECT_EQ(resp->body.size(), want.size());
    EXPECT_TRUE(resp->body == want);
  }
  {
    ChunkServer s({big}, true, true);
    auto resp = fetch(s, 64 * 1024);
    ASSERT_FALSE(resp.ok());
    EXPECT_EQ(resp.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(resp.error().message, HasSubstr("exceeds the 65536-byte limit"));
  }
  {
    ChunkServer s({"{\"a\":", "1"}, true, true, 100);
    auto resp = fetch(s);
    ASSERT_FALSE(resp.ok()) << resp->body;
    EXPECT_EQ(resp.error().code, ErrorCode::kUnavailable) << resp.error().toString();
  }
}

// A server that answers and hangs up while a large request body is still being sent: the
// send fails (EPIPE) and the request is an error or the early answer, never a SIGPIPE that
// ends the process (SIGPIPE is not ignored process-wide; libcurl must not raise it).
TEST(TransportBodyTest, AServerThatHangsUpMidRequestIsAnErrorNotASignal) {
  for (int i = 0; i < 3; ++i) {
    ChunkServer s({"{\"kind\":\"Status\"}"}, true, true);
    TransportConfig cfg;
    cfg.server = s.url();
    auto t = makeHttpTransport(cfg);
    ASSERT_TRUE(t.ok());
    auto r = (*t)->send(HttpRequest{"POST", "/apis/x/v1/widgets", {}, std::string(32u << 20, 'x')});
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().toString();
    }
  }
}

TEST(WatchStreamTest, LinesSplitAnywhereAcrossChunksComeOutWhole) {
  std::string many;
  for (int i = 0; i < 500; ++i) many += "{\"n\":" + std::to_string(i) + "}\n";
  ChunkServer s({"{\"a\":1}\n{\"b\"", ":2}\r", "\n", many, "{\"c\":", "3}"}, true);
  auto st = open(s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status(), 200);
  Error err;
  auto lines = readAllLines(*st, &err);
  ASSERT_EQ(lines.size(), 503u) << err.toString();
  EXPECT_EQ(lines[0], "{\"a\":1}");
  EXPECT_EQ(lines[1], "{\"b\":2}") << "split across chunks, CR dropped";
  EXPECT_EQ(lines[2], "{\"n\":0}");
  EXPECT_EQ(lines[501], "{\"n\":499}");
  EXPECT_EQ(lines[502], "{\"c\":3}") << "the last line needs no newline";
  auto again = st->readLine();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value()) << "the end stays the end";
}

// A burst bigger than the reader's compaction threshold (64 KiB): 3,000 events of ~100 bytes
// in one chunk, then a line split across the next two. Every line comes out whole, in order,
// once: the consumed prefix is dropped while lines are still being handed out.
TEST(WatchStreamTest, ABurstOfManyEventsComesOutInOrder) {
  std::string burst;
  for (int i = 0; i < 3000; ++i) burst += "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(80, 'p') + "\"}\n";
  ChunkServer s({burst, "{\"n\":30", "00}\n"}, true);
  auto st = open(s);
  ASSERT_TRUE(st);
  Error err;
  auto lines = readAllLines(*st, &err);
  ASSERT_EQ(lines.size(), 3001u) << err.toString();
  for (int i = 0; i < 3000; ++i)
    ASSERT_EQ(lines[i], "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(80, 'p') + "\"}") << i;
  EXPECT_EQ(lines[3000], "{\"n\":3000}");
}

TEST(WatchStreamTest, ALineOverTheLimitIsAnErrorNotABuffer) {
  ChunkServer s({"{\"ok\":1}\n", std::string(40, 'x'), std::string(40, 'y'), "\n"}, true);
  auto st = open(s, 64);
  ASSERT_TRUE(st);
  auto first = st->readLine();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ(**first, "{\"ok\":1}");
  auto second = st->readLine();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(second.error().message.find("exceeds 64 bytes"), std::string::npos) << second.error().message;
}

TEST(WatchStreamTest, AConnectionCutMidLineIsAnErrorOrTheEndNeverAHang) {
  ChunkServer s({"{\"a\":1}\n{\"b\":"}, false);
  auto st = open(s);
  ASSERT_TRUE(st);
  auto first = st->readLine();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ(**first, "{\"a\":1}");
  // What is left is half an event: an error (the stream broke) or a partial last line that
  // the reflector's JSON decode refuses; either way the call returns.
  auto rest = st->readLine();
  if (rest.ok() && rest->has_value()) {
    EXPECT_EQ(**rest, "{\"b\":");
  }
}

}  // namespace
}  // namespace keygate::kube

namespace keygate::kube {
namespace {

// A line is handed out as soon as it has arrived, not when the next data (or a poll
// timeout) comes: one event on a connection that then stays silent is read within
// milliseconds. (A reader that, after its transfer step had brought the line, went on to wait
// for the socket held the event for the wait: ~200 ms here, up to its 1 s cap; every burst's
// last event paid it and informers fell behind the API server, which tests of the crypto API
// and the KMS plugin saw as a key still PreActive after the API showed it Active.)
TEST(WatchStreamTest, EachLineIsDeliveredWhenItArrives) {
  for (int round = 0; round < 3; ++round) {
    ChunkServer s({"{\"n\":1}\n"}, false);
    s.hold_ = true;
    const auto start = std::chrono::steady_clock::now();
    auto st = open(s);
    ASSERT_TRUE(st);
    auto l = st->readLine();
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(l.ok() && l->has_value());
    EXPECT_EQ(**l, "{\"n\":1}");
    EXPECT_LT(took, std::chrono::milliseconds(150));
    st->cancel();
  }
}

// cancel() from another thread ends a readLine() that waits on a silent connection: the
// reflector stops its watch this way on shutdown and on leadership loss.
TEST(WatchStreamTest, CancelWakesAReaderWaitingOnASilentConnection) {
  ChunkServer s({"{\"a\":1}\n"}, false);
  s.hold_ = true;
  auto st = open(s);
  ASSERT_TRUE(st);
  auto first = st->readLine();
  ASSERT_TRUE(first.ok() && first->has_value()) << (first.ok() ? "end" : first.error().toString());
  EXPECT_EQ(**first, "{\"a\":1}");
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    st->cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  auto next = st->readLine();
  canceller.join();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code, ErrorCode::kCancelled) << next.error().toString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // not the 10 s hold
}

}  // namespace
}  // namespace keygate::kube
