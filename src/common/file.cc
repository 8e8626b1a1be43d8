#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace keygate {

Result<std::string> readWholeFile(const std::string& path, ErrorCode code) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(code, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status writeFileAtomically(const std::string& path, std::string_view data) {
  auto sysError = [](const std::string& what, const std::string& p, int err) {
    return makeError(ErrorCode::kInternal, what + " " + p + ": " + std::strerror(err));
  };
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());  // creates the file 0600
  if (fd < 0) return sysError("mkstemp", tmp, errno);
  Status s = okStatus();
  for (size_t off = 0; s.ok() && off < data.size();) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno != EINTR) s = sysError("write", tmp, errno);
    if (n > 0) off += static_cast<size_t>(n);
  }
  if (s.ok() && ::fchmod(fd, 0600) != 0) s = sysError("fchmod", tmp, errno);
  if (s.ok() && ::fsync(fd) != 0) s = sysError("fsync", tmp, errno);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = sysError("rename", path, errno);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace keygate
