#pragma once
// A TCP load balancer for the benches: what a Service does for the webhook of several replicas.
// Each accepted connection goes to the next backend port (round robin) that accepts a
// connection on 127.0.0.1; a backend that refuses is skipped, as an endpoint whose readiness
// probe fails is. Bytes are copied both ways untouched (TLS passes through). A connection whose
// backend dies is closed, as kube-proxy leaves it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace keygate::bench {

class TcpBalancer {
 public:
  explicit TcpBalancer(std::vector<int> backendPorts) : backends_(std::move(backendPorts)) {
    listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listenFd_, 64) != 0 ||
        ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(listenFd_);
      listenFd_ = -1;
      return;
    }
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~TcpBalancer() {
    stop_ = true;
    if (listenFd_ >= 0) ::shutdown(listenFd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    if (listenFd_ >= 0) ::close(listenFd_);
    std::lock_guard<std::mutex> l(mu_);
    for (auto& t : pipes_) t.join();
  }
  TcpBalancer(const TcpBalancer&) = delete;
  TcpBalancer& operator=(const TcpBalancer&) = delete;

  int port() const { return port_; }  // 0 when it could not listen
  // Connections no backend accepted (each is closed at once: the caller sees a reset).
  int refused() const { return refused_; }

 private:
  static int connectTo(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    ::close(fd);
    return -1;
  }

  void acceptLoop() {
    while (!stop_) {
      int client = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        if (stop_) return;
        continue;
      }
      int backend = -1;
      for (size_t i = 0; i < backends_.size() && backend < 0; ++i)
        backend = connectTo(backends_[next_++ % backends_.size()]);
      if (backend < 0) {
        ++refused_;
        ::close(client);
        continue;
      }
      std::lock_guard<std::mutex> l(mu_);
      pipes_.emplace_back([this, client, backend] { pipe(client, backend); });
    }
  }

  void pipe(int a, int b) {
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    char buf[16384];
    while (!stop_) {
      if (::poll(fds, 2, 200) < 0) break;
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          done = true;
          break;
        }
        for (ssize_t off = 0; off < n;) {
          const ssize_t w = ::write(fds[1 - i].fd, buf + off, static_cast<size_t>(n - off));
          if (w <= 0) {
            done = true;
            break;
          }
          off += w;
        }
      }
      if (done) break;
    }
    ::close(a);
    ::close(b);
  }

  std::vector<int> backends_;
  int listenFd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> next_{0};
  std::atomic<int> refused_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> pipes_;
};

}  // namespace keygate::bench
