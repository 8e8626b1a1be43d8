// The HTTPS server for real: TLS on 127.0.0.1 with openssl-made certificates, AdmissionReviews
// over the wire, HTTP errors, certificate rotation, and that it keeps serving after abuse.

#include "webhook/server.h"

#include <gmock/gmock.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "support/temp_dir.h"
#include "tls_client.h"
#include "unit/webhook/fixture.h"

namespace keygate::webhook::testing {
namespace {

using ::testing::HasSubstr;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ServerTest : public WebhookFixture {
 protected:
  void SetUp() override {
    ASSERT_TRUE(makeCa(dir_.path(), "ca", &ca_).ok());
    ASSERT_TRUE(issueServerCert(dir_.path(), ca_, "server-1", "webhook-1", &certs_).ok());
    // The server reads fixed paths; rotation copies new files over them.
    certFile_ = dir_.path() + "/tls.crt";
    keyFile_ = dir_.path() + "/tls.key";
    std::filesystem::copy_file(certs_.cert, certFile_);
    std::filesystem::copy_file(certs_.key, keyFile_);
    startWith([](ServerOptions&) {});
  }

  void startWith(const std::function<void(ServerOptions&)>& tweak) {
    server_.reset();
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.certFile = certFile_;
    o.keyFile = keyFile_;
    o.onRequest = [this](const RequestRecord& r) {
      std::lock_guard<std::mutex> l(mu_);
      records_.push_back(r);
    };
    tweak(o);
    auto s = Server::start(o, handler_);
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }

  // A plain TCP connection to the server (for clients that never speak TLS).
  int rawConnect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }

  std::unique_ptr<TlsConnection> connect(int minV = 0, int maxV = 0, std::string ca = "") {
    auto c = TlsConnection::connect(server_->port(), {ca.empty() ? ca_.caCert : ca, minV, maxV, 10});
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c.ok() ? std::move(*c) : nullptr;
  }

  std::string requestCreateReview(const std::string& user = "alice") {
    auto r = storedRequest();
    r.metadata.uid.clear();
    Json req = {{"uid", "rev-" + user},
                {"kind", {{"group", "keygate.dev"}, {"version", "v1alpha1"}, {"kind", "KeyActivationRequest"}}},
                {"resource", {{"group", "keygate.dev"}, {"version", "v1alpha1"}, {"resource", "keyactivationrequests"}}},
                {"name", r.metadata.name},
                {"namespace", "tenant-a"},
                {"operation", "CREATE"},
                {"userInfo", {{"username", user}, {"groups", {"system:authenticated"}}}},
                {"object", encode(r)},
                {"oldObject", nullptr},
                {"dryRun", false}};
    return dumpJson(Json{{"kind", "AdmissionReview"}, {"apiVersion", "admission.k8s.io/v1"}, {"request", req}});
  }

  // One fresh connection, one valid mutate request: proves the server still serves.
  void expectServing() {
    auto c = connect();
    ASSERT_TRUE(c);
    auto r = c->request("POST", "/mutate?timeout=10s", requestCreateReview());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(Json::parse(r->body)["response"]["allowed"], true);
  }

  keygate::testing::TempDir dir_{"keygate-webhook"};
  CertFiles ca_, certs_;
  std::string certFile_, keyFile_;
  std::unique_ptr<Server> server_;
  std::mutex mu_;
  std::vector<RequestRecord> records_;
};

// /mutate and /validate answer AdmissionReviews over TLS (the API server's ?timeout=Ns ignored).
TEST_F(ServerTest, ServesAdmissionReviews) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = c->request("POST", "/mutate?timeout=5s", requestCreateReview());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->headers["content-type"], HasSubstr("application/json"));
  Json out = Json::parse(r->body);
  EXPECT_EQ(out["response"]["uid"], "rev-alice");
  EXPECT_EQ(out["response"]["patchType"], "JSONPatch");
  Json ops = Json::parse(*base64Decode(out["response"]["patch"].get<std::string>()));
  // The requester, and the approvals the key needs now (fixed for this request).
  EXPECT_EQ(ops, Json::parse(R"([{"op":"add","path":"/spec/requester","value":"alice"},
                                 {"op":"add","path":"/metadata/annotations","value":{"keygate.dev/approvals-required":"2"}}])"));

  // Same connection (keep-alive): the validating endpoint.
  Json review = Json::parse(requestCreateReview("bob"));
  review["request"]["object"]["spec"]["requester"] = "bob";
  r = c->request("POST", "/validate", dumpJson(review));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Json::parse(r->body)["response"]["allowed"], true);

  std::lock_guard<std::mutex> l(mu_);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[0].path, "/mutate");
  EXPECT_EQ(records_[0].kind, "KeyActivationRequest");
  EXPECT_EQ(records_[0].operation, "CREATE");
  EXPECT_EQ(records_[0].allowed, true);
  EXPECT_GT(records_[0].duration.count(), 0);
}

// Wrong path, method, body and size get clean HTTP errors; the server keeps serving.
TEST_F(ServerTest, HttpErrors) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = c->request("GET", "/mutate", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  r = c->request("POST", "/admit", "{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("use /mutate or /validate"));
  r = c->request("POST", "/validate", "{\"kind\":\"AdmissionReview\",");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(Json::parse(r->body)["message"].get<std::string>(), HasSubstr("malformed AdmissionReview: invalid JSON"));
  r = c->request("POST", "/validate", R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"x"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("unsupported apiVersion"));

  // 4 MiB body (over the 3 MiB limit): 413.
  auto big = connect();
  ASSERT_TRUE(big);
  std::string body = "{\"pad\":\"" + std::string(4 << 20, 'x') + "\"}";
  r = big->request("POST", "/validate", body);
  if (r.ok()) {
    EXPECT_EQ(r->status, 413);
    EXPECT_THAT(r->body, HasSubstr("exceeds the limit of 3145728 bytes"));
  }  // else: the server closed the connection after answering while we were still writing
  // Just under the limit: parsed normally (400: not an AdmissionReview).
  auto ok = connect();
  std::string under = "{\"pad\":\"" + std::string((3 << 20) - 20, 'x') + "\"}";
  r = ok->request("POST", "/validate", under);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 400);
  expectServing();
}

// A review without userInfo is denied cleanly over the wire (HTTP 200, allowed=false).
TEST_F(ServerTest, MissingUserInfoDenied) {
  Json review = Json::parse(requestCreateReview());
  review["request"].erase("userInfo");
  auto c = connect();
  auto r = c->request("POST", "/mutate", dumpJson(review));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  Json out = Json::parse(r->body);
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 403);
}

// Garbage on the socket (plain HTTP, half handshakes, truncated requests) does not stop it.
TEST_F(ServerTest, SurvivesAbuse) {
  for (int i = 0; i < 5; ++i) {
    int fd = rawConnect();
    std::string junk = i % 2 ? "POST /mutate HTTP/1.1\r\nContent-Length: 10\r\n\r\n{" : std::string("\x16\x03\x01\x00\x05hello", 10);
    (void)!::write(fd, junk.data(), junk.size());
    ::close(fd);
  }
  {
    auto c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->writeAll("POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"kind\"").ok());
  }  // closed mid-body
  {
    auto c = connect();
    ASSERT_TRUE(c->writeAll("NOT-HTTP\r\n\r\n").ok());
    (void)c->readResponse();
  }
  expectServing();
}

// TLS 1.0/1.1 are refused; 1.2 and 1.3 work.
TEST_F(ServerTest, TlsVersions) {
  auto old = TlsConnection::connect(server_->port(), {ca_.caCert, TLS1_VERSION, TLS1_1_VERSION, 10});
  EXPECT_FALSE(old.ok());
  auto v12 = connect(TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(v12);
  EXPECT_EQ(v12->protocol(), "TLSv1.2");
  auto v13 = connect(TLS1_3_VERSION, TLS1_3_VERSION);
  ASSERT_TRUE(v13);
  EXPECT_EQ(v13->protocol(), "TLSv1.3");
  EXPECT_EQ(v13->request("POST", "/mutate", requestCreateReview())->status, 200);
}

// Replaced certificate files are served to new connections without a restart; a broken
// pair keeps the last good certificate; a new CA works once clients trust it.
TEST_F(ServerTest, CertificateRotation) {
  auto before = connect();
  ASSERT_TRUE(before);
  EXPECT_EQ(before->peerCommonName(), "webhook-1");

  CertFiles next;
  ASSERT_TRUE(issueServerCert(dir_.path(), ca_, "server-2", "webhook-2", &next).ok());
  std::filesystem::copy_file(next.cert, certFile_, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(next.key, keyFile_, std::filesystem::copy_options::overwrite_existing);
  auto after = connect();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->peerCommonName(), "webhook-2");
  // The connection made before the rotation keeps working.
  auto r = before->request("POST", "/mutate", requestCreateReview());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);

  // Half-rotated: a new certificate whose key has not arrived yet -> keep webhook-2.
  CertFiles third;
  ASSERT_TRUE(issueServerCert(dir_.path(), ca_, "server-3", "webhook-3", &third).ok());
  std::filesystem::copy_file(third.cert, certFile_, std::filesystem::copy_options::overwrite_existing);
  auto mid = connect();
  ASSERT_TRUE(mid);
  EXPECT_EQ(mid->peerCommonName(), "webhook-2");
  std::filesystem::copy_file(third.key, keyFile_, std::filesystem::copy_options::overwrite_existing);
  auto done = connect();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->peerCommonName(), "webhook-3");

  // Garbage in the files: still webhook-3.
  { std::ofstream(certFile_) << "not a certificate"; }
  auto garbage = connect();
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->peerCommonName(), "webhook-3");

  // A certificate from a new CA: clients that trust only the old CA fail, the new CA works.
  CertFiles ca2, fromCa2;
  ASSERT_TRUE(makeCa(dir_.path(), "ca2", &ca2).ok());
  ASSERT_TRUE(issueServerCert(dir_.path(), ca2, "server-4", "webhook-4", &fromCa2).ok());
  std::filesystem::copy_file(fromCa2.cert, certFile_, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(fromCa2.key, keyFile_, std::filesystem::copy_options::overwrite_existing);
  EXPECT_FALSE(TlsConnection::connect(server_->port(), {ca_.caCert, 0, 0, 10}).ok());
  auto c2 = connect(0, 0, ca2.caCert);
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->peerCommonName(), "webhook-4");
  EXPECT_EQ(c2->request("POST", "/mutate", requestCreateReview())->status, 200);
}

// 32 clients x 10 requests at once: every one answered correctly.
TEST_F(ServerTest, ConcurrentClients) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t)
    threads.emplace_back([&, t] {
      auto c = TlsConnection::connect(server_->port(), {ca_.caCert, 0, 0, 20});
      if (!c.ok()) return;
      for (int i = 0; i < 10; ++i) {
        auto r = (*c)->request("POST", i % 2 ? "/validate" : "/mutate", requestCreateReview("user" + std::to_string(t)));
        if (r.ok() && r->status == 200 && Json::parse(r->body)["response"]["uid"] == "rev-user" + std::to_string(t)) ++ok;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 320);
}

// curl, as an operator would try the endpoint by hand: `Expect: 100-continue` (what curl sends
// for larger bodies) gets "100 Continue" before the body is sent, then the answer. A refused
// path gets its 404 at once, without the body.
TEST_F(ServerTest, CurlWithExpectContinue) {
  const std::string review = dir_.path() + "/review.json";
  { std::ofstream(review) << requestCreateReview(); }
  const std::string url = "https://127.0.0.1:" + std::to_string(server_->port());
  auto curl = [&](const std::string& path, const std::string& out) {
    return std::system(("curl -sS -v --cacert " + ca_.caCert + " -H 'Content-Type: application/json' " +
                        "-H 'Expect: 100-continue' --data-binary @" + review + " -o " + out + ".body -w '%{http_code}' " +
                        url + path + " > " + out + ".code 2> " + out + ".log")
                           .c_str());
  };
  const std::string ok = dir_.path() + "/ok", refused = dir_.path() + "/refused";
  ASSERT_EQ(curl("/mutate?timeout=10s", ok), 0) << readFile(ok + ".log");
  EXPECT_EQ(readFile(ok + ".code"), "200");
  EXPECT_THAT(readFile(ok + ".log"), HasSubstr("< HTTP/1.1 100 Continue"));
  EXPECT_EQ(Json::parse(readFile(ok + ".body"))["response"]["uid"], "rev-alice");
  ASSERT_EQ(curl("/admit", refused), 0) << readFile(refused + ".log");
  EXPECT_EQ(readFile(refused + ".code"), "404");
  EXPECT_THAT(readFile(refused + ".log"), ::testing::Not(HasSubstr("100 Continue")));
  expectServing();
}

// A chunked body (no Content-Length) is held to the limit as it arrives: 413, connection closed.
TEST_F(ServerTest, ChunkedBodyOverTheLimit) {
  startWith([](ServerOptions& o) { o.maxBodyBytes = 4096; });
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->writeAll("POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").ok());
  const std::string chunk(1000, 'x');
  for (int i = 0; i < 5; ++i) (void)c->writeAll("3e8\r\n" + chunk + "\r\n");
  auto r = c->readResponse();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 413);
  EXPECT_THAT(r->body, HasSubstr("exceeds the limit of 4096 bytes"));
  EXPECT_EQ(r->headers["connection"], "close");
  // Within the limit, chunked works.
  auto d = connect();
  const std::string body = requestCreateReview().substr(0, 500);
  ASSERT_TRUE(d->writeAll("POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n" + body +
                          "\r\n0\r\n\r\n").ok());
  r = d->readResponse();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);  // half a review: read in full, then refused as JSON
  EXPECT_THAT(r->body, HasSubstr("malformed AdmissionReview"));
}

// A header over 16 KiB, and HTTP/1.0 (no keep-alive): answered, then the connection closes.
TEST_F(ServerTest, OversizedHeaderAndHttp10) {
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->writeAll("POST /mutate HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(20000, 'a') + "\r\n\r\n").ok());
  auto r = c->readResponse();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("malformed HTTP request"));

  auto old = connect();
  const std::string review = requestCreateReview();
  ASSERT_TRUE(old->writeAll("POST /mutate HTTP/1.0\r\nContent-Length: " + std::to_string(review.size()) + "\r\n\r\n" +
                            review).ok());
  r = old->readResponse();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(old->request("POST", "/mutate", review).ok());  // closed after the answer
  expectServing();
}

// Connections that never start TLS, never send a request, or sit idle after one are closed
// after the I/O timeout; while they hang, other clients are served at once.
TEST_F(ServerTest, SilentAndIdleConnectionsAreClosedAfterTheTimeout) {
  startWith([](ServerOptions& o) { o.ioTimeout = std::chrono::seconds(1); });
  std::vector<int> silent;
  for (int i = 0; i < 50; ++i) silent.push_back(rawConnect());
  auto idle = connect();
  ASSERT_TRUE(idle);
  ASSERT_EQ(idle->request("POST", "/mutate", requestCreateReview())->status, 200);
  const auto before = std::chrono::steady_clock::now();
  expectServing();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(900));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int fd : silent) {
    char b;
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::read(fd, &b, 1), 0);  // closed by the server, not still waiting
    ::close(fd);
  }
  EXPECT_FALSE(idle->request("POST", "/mutate", requestCreateReview()).ok());
  expectServing();
}

// stop() closes kept-alive connections too (nothing is served after it).
TEST_F(ServerTest, StopClosesOpenConnections) {
  auto c = connect();
  ASSERT_TRUE(c);
  ASSERT_EQ(c->request("POST", "/mutate", requestCreateReview())->status, 200);
  server_->stop();
  EXPECT_FALSE(c->request("POST", "/mutate", requestCreateReview()).ok());
}

// Start-up refuses missing or mismatched certificate files with the file named.
// Readiness (operator /readyz "webhook"): OK while the listener accepts connections, not after stop().
TEST_F(ServerTest, ServingReflectsTheListener) {
  EXPECT_TRUE(server_->serving().ok());
  server_->stop();
  auto st = server_->serving();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("stopped"));
}

TEST(ServerStartTest, BadCertificateFiles) {
  keygate::testing::TempDir dir("keygate-webhook");
  CertFiles ca, a, b;
  ASSERT_TRUE(makeCa(dir.path(), "ca", &ca).ok());
  ASSERT_TRUE(issueServerCert(dir.path(), ca, "a", "a", &a).ok());
  ASSERT_TRUE(issueServerCert(dir.path(), ca, "b", "b", &b).ok());
  FakeRoleView roles;
  ApprovalSigner signer(kSigningKey);
  AdmissionHandler handler(roles, signer, Policy{});
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.certFile = dir.path() + "/missing.crt";
  o.keyFile = a.key;
  auto s = Server::start(o, handler);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("missing.crt"));
  o.certFile = a.cert;
  o.keyFile = b.key;
  s = Server::start(o, handler);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("does not belong to the certificate"));
  o.keyFile = "";
  EXPECT_FALSE(Server::start(o, handler).ok());
}

}  // namespace
}  // namespace keygate::webhook::testing
