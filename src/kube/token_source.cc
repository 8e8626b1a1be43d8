#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "kube/transport.h"

namespace keygate::kube {

std::function<Result<std::string>()> fileTokenSource(std::string path) {
  struct State {
    std::mutex mu;
    std::string path;
    std::string token;
    struct timespec mtime {};
    off_t size = -1;
  };
  auto st = std::make_shared<State>();
  st->path = std::move(path);
  return [st]() -> Result<std::string> {
    std::lock_guard<std::mutex> lock(st->mu);
    struct stat sb {};
    if (::stat(st->path.c_str(), &sb) != 0)
      return makeError(ErrorCode::kUnauthenticated, "cannot read token file " + st->path);
    if (sb.st_size != st->size || sb.st_mtim.tv_sec != st->mtime.tv_sec || sb.st_mtim.tv_nsec != st->mtime.tv_nsec) {
      std::ifstream in(st->path);
      if (!in) return makeError(ErrorCode::kUnauthenticated, "cannot read token file " + st->path);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string t = ss.str();
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      st->token = std::move(t);
      st->mtime = sb.st_mtim;
      st->size = sb.st_size;
    }
    return st->token;
  };
}

}  // namespace keygate::kube
