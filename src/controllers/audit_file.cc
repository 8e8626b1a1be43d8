#include "controllers/audit_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/json.h"
#include "common/log.h"

namespace keygate::controllers {
namespace {

namespace fs = std::filesystem;

const log::Logger& logger() {
  static const log::Logger l("audit.file");
  return l;
}

std::string lastLineOf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

Error ioError(const std::string& what, const std::string& path) {
  return makeError(ErrorCode::kUnavailable, what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

std::string sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string chainedAuditLine(const AuditRecord& r, uint64_t seq, const std::string& prevHash) {
  std::string l = auditLine(r);
  l.pop_back();  // the closing brace
  return l + ",\"seq\":" + std::to_string(seq) + ",\"prevHash\":\"" + prevHash + "\"}";
}

Result<std::unique_ptr<FileAuditSink>> FileAuditSink::open(FileAuditSinkOptions o) {
  if (o.path.empty()) return makeError(ErrorCode::kInvalidArgument, "audit file: no path");
  std::unique_ptr<FileAuditSink> s(new FileAuditSink(std::move(o)));
  std::error_code ec;
  fs::create_directories(fs::path(s->options_.path).parent_path(), ec);
  if (ec) return makeError(ErrorCode::kUnavailable, "audit file: cannot create " +
                                                         fs::path(s->options_.path).parent_path().string() + ": " + ec.message());
  ::chmod(fs::path(s->options_.path).parent_path().c_str(), 0700);
  // Resume the chain: the current file's last line, else the newest rotated file's.
  std::string last = lastLineOf(s->options_.path);
  if (last.empty()) last = lastLineOf(s->options_.path + ".1");
  if (!last.empty()) {
    auto j = Json::parse(last, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned())
      return makeError(ErrorCode::kFailedPrecondition,
                       "audit file " + s->options_.path + ": its last line is not a chained audit record; "
                       "check it with `keygate audit verify` and move it aside before starting");
    s->seq_ = j["seq"].get<uint64_t>();
    s->prevHash_ = sha256Hex(last);
  }
  RETURN_IF_ERROR(s->openCurrent());
  return s;
}

Status FileAuditSink::openCurrent() {
  int fd = ::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("audit file: cannot open", options_.path);
  file_ = std::make_shared<OpenFile>();
  file_->fd = fd;
  struct stat st{};
  size_ = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return okStatus();
}

FileAuditSink::OpenFile::~OpenFile() {
  if (fd >= 0) ::close(fd);
}

FileAuditSink::~FileAuditSink() = default;

int FileAuditSink::syncFile(int fd) const { return options_.sync ? options_.sync(fd) : ::fdatasync(fd); }

uint64_t FileAuditSink::nextSeq() const {
  std::lock_guard<std::mutex> l(mu_);
  return seq_ + 1;
}

Status FileAuditSink::rotate() {
  // What the old file holds is made durable here: a later sync only covers the new file.
  if (syncFile(file_->fd) != 0) logger().error("audit file not synced before rotation", {{"path", options_.path}, {"error", std::strerror(errno)}});
  file_.reset();  // closed now, or when a running sync lets go of it
  const std::string& p = options_.path;
  std::error_code ec;
  fs::remove(p + "." + std::to_string(options_.maxFiles), ec);
  for (int i = options_.maxFiles - 1; i >= 1; --i)
    if (fs::exists(p + "." + std::to_string(i))) fs::rename(p + "." + std::to_string(i), p + "." + std::to_string(i + 1), ec);
  fs::rename(p, p + ".1", ec);
  if (ec) logger().error("audit file rotation failed", {{"path", p}, {"error", ec.message()}});
  return openCurrent();
}

void FileAuditSink::write(const AuditRecord& r) {
  std::unique_lock<std::mutex> l(mu_);
  if (!file_ && !openCurrent().ok()) {
    logger().error("audit record not written to the file", {{"path", options_.path}, {"event", r.event}});
    return;
  }
  const std::string line = chainedAuditLine(r, seq_ + 1, prevHash_);
  const std::string out = line + "\n";
  if (size_ > 0 && size_ + out.size() > options_.maxFileBytes && options_.maxFiles > 0) {
    if (!rotate().ok()) {
      logger().error("audit file cannot be reopened after rotation", {{"path", options_.path}});
      return;
    }
  }
  ssize_t n = ::write(file_->fd, out.data(), out.size());
  if (n != static_cast<ssize_t>(out.size())) {
    logger().error("audit record not written to the file", {{"path", options_.path}, {"error", std::strerror(errno)}});
    return;
  }
  size_ += out.size();
  const uint64_t mine = ++seq_;
  prevHash_ = sha256Hex(line);
  l.unlock();
  waitDurable(mine);
}

void FileAuditSink::waitDurable(uint64_t seq) {
  std::unique_lock<std::mutex> sl(syncMu_);
  while (durableSeq_ < seq) {
    if (syncing_) {  // that sync may have begun before our line: wait, then look again
      syncDone_.wait(sl);
      continue;
    }
    syncing_ = true;
    sl.unlock();
    std::shared_ptr<OpenFile> file;
    uint64_t upTo;
    {
      std::lock_guard<std::mutex> l(mu_);
      file = file_;
      upTo = seq_;  // lines before a rotation were synced by it
    }
    if (file && syncFile(file->fd) != 0)
      logger().error("audit file not synced", {{"path", options_.path}, {"error", std::strerror(errno)}});
    sl.lock();
    syncing_ = false;
    durableSeq_ = std::max(durableSeq_, upTo);
    syncDone_.notify_all();
  }
}

Result<AuditVerifyResult> verifyAuditChain(const std::vector<std::string>& files) {
  AuditVerifyResult res;
  std::string prevLine;
  bool first = true;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return makeError(ErrorCode::kNotFound, f + ": cannot read");
    std::string line;
    uint64_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      auto fail = [&](std::string problem) {
        res.ok = false;
        res.file = f;
        res.line = n;
        res.problem = std::move(problem);
        return res;
      };
      auto j = Json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
          !j.contains("prevHash") || !j["prevHash"].is_string())
        return fail("not a chained audit record (no seq/prevHash, or not JSON)");
      const uint64_t seq = j["seq"].get<uint64_t>();
      const std::string prev = j["prevHash"].get<std::string>();
      if (!first) {
        if (seq != res.lastSeq + 1)
          return fail("seq " + std::to_string(seq) + " follows seq " + std::to_string(res.lastSeq) +
                      ": records were removed or inserted before this line");
        if (prev != sha256Hex(prevLine))
          return fail("record seq " + std::to_string(seq) +
                      ": prevHash does not match the record before it (that record was edited, or records were "
                      "removed or inserted)");
      } else {
        res.firstSeq = seq;
        if (seq == 1 && !prev.empty()) return fail("the first record (seq 1) must have an empty prevHash");
      }
      first = false;
      res.lastSeq = seq;
      ++res.records;
      prevLine = line;
    }
  }
  return res;
}

}  // namespace keygate::controllers
