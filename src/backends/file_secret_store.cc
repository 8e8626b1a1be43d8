#include "backends/file_secret_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"

namespace keygate::backends {
namespace {

Error sysError(const std::string& what, const std::string& path, int err) {
  return makeError(ErrorCode::kInternal, what + " " + path + ": " + std::strerror(err));
}

Status writeAll(int fd, const std::string& data, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysError("write", path, errno);
    }
    off += static_cast<size_t>(n);
  }
  return okStatus();
}

}  // namespace

Result<std::shared_ptr<FileSecretStore>> FileSecretStore::open(std::string dir) {
  if (dir.empty()) return makeError(ErrorCode::kInvalidArgument, "secret store directory is empty");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sysError("mkdir", dir, errno);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return sysError("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) {
    return makeError(ErrorCode::kInternal, "secret store path " + dir + " is not a directory");
  }
  return std::shared_ptr<FileSecretStore>(new FileSecretStore(std::move(dir)));
}

Result<std::optional<SecretValue>> FileSecretStore::get(std::string_view name) {
  RETURN_IF_ERROR(validateSecretName(name));
  const std::string path = dir_ + "/" + std::string(name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<SecretValue>();
    return sysError("open", path, errno);
  }
  std::string data;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      secureWipe(data);
      return sysError("read", path, err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > 64 * 1024) {
      ::close(fd);
      secureWipe(data);
      return makeError(ErrorCode::kInternal, "secret file " + path + " is larger than 64 KiB");
    }
  }
  ::close(fd);
  ::explicit_bzero(buf, sizeof(buf));
  return std::optional<SecretValue>(SecretValue(std::move(data)));
}

Status FileSecretStore::put(std::string_view name, const SecretValue& value) {
  RETURN_IF_ERROR(validateSecretName(name));
  std::lock_guard<std::mutex> l(mu_);
  const std::string path = dir_ + "/" + std::string(name);
  RETURN_IF_ERROR(writeFileAtomically(path, value.value()));
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // makes the rename durable; best effort
    ::close(dfd);
  }
  return okStatus();
}

Result<SecretValue> FileSecretStore::putIfAbsent(std::string_view name, const SecretValue& value) {
  RETURN_IF_ERROR(validateSecretName(name));
  std::unique_lock<std::mutex> l(mu_);
  const std::string path = dir_ + "/" + std::string(name);
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data());  // 0600
  if (fd < 0) return sysError("mkstemp", tmp, errno);
  Status s = writeAll(fd, value.value(), tmp);
  if (s.ok() && ::fsync(fd) != 0) s = sysError("fsync", tmp, errno);
  ::close(fd);
  bool stored = false;
  if (s.ok()) {
    if (::link(tmp.c_str(), path.c_str()) == 0) stored = true;
    else if (errno != EEXIST) s = sysError("link", path, errno);
  }
  ::unlink(tmp.c_str());
  if (!s.ok()) return s.takeError();
  if (stored) {
    int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return value;
  }
  l.unlock();
  ASSIGN_OR_RETURN(auto existing, get(name));
  if (!existing) return makeError(ErrorCode::kInternal, "secret file " + path + " vanished while being created");
  return std::move(*existing);
}

Result<bool> FileSecretStore::replace(std::string_view name, const SecretValue& expected, const SecretValue& next) {
  RETURN_IF_ERROR(validateSecretName(name));
  // An exclusive flock on <dir>/.lock (no secret name starts with a dot) serialises the
  // compare and the swap between processes sharing the volume (the operator and a
  // `keygate signing-key` command run in its pod).
  const std::string lockPath = dir_ + "/.lock";
  int lfd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0) return sysError("open", lockPath, errno);
  if (::flock(lfd, LOCK_EX) != 0) {
    int err = errno;
    ::close(lfd);
    return sysError("flock", lockPath, err);
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }  // closing drops the flock
  } unlock{lfd};
  ASSIGN_OR_RETURN(auto current, get(name));
  if (!current) return makeError(ErrorCode::kNotFound, "no secret file " + dir_ + "/" + std::string(name));
  if (!(*current == expected)) return false;
  RETURN_IF_ERROR(put(name, next));
  return true;
}

}  // namespace keygate::backends
