#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>

#include "common/time.h"

namespace keygate::log {
namespace {

struct Sink {
  std::atomic<int> level{static_cast<int>(Level::kInfo)};
  std::atomic<Format> format{Format::kJson};
  std::ostream* out = &std::cerr;
  std::mutex mu;
};

Sink& sink() {
  static Sink s;
  return s;
}

const char* levelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

void configure(Level level, Format format, std::ostream* out) {
  auto& s = sink();
  s.level = static_cast<int>(level);
  s.format = format;
  std::lock_guard<std::mutex> lock(s.mu);
  if (out) s.out = out;
}

bool parseLevel(std::string_view s, Level* out) {
  if (s == "debug") *out = Level::kDebug;
  else if (s == "info") *out = Level::kInfo;
  else if (s == "warn" || s == "warning") *out = Level::kWarn;
  else if (s == "error") *out = Level::kError;
  else return false;
  return true;
}

bool enabled(Level level) { return static_cast<int>(level) >= sink().level.load(); }

std::string jsonEscape(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 2);
  for (unsigned char c : in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void Logger::write(Level level, std::string_view msg, Fields fields) const {
  if (!enabled(level)) return;
  auto& s = sink();
  std::string line;
  const std::string ts = formatRfc3339Micro(std::chrono::system_clock::now());
  if (s.format.load() == Format::kJson) {
    line = "{\"time\":\"" + ts + "\",\"level\":\"" + levelName(level) + "\",\"logger\":\"" + jsonEscape(name_) +
           "\",\"msg\":\"" + jsonEscape(msg) + "\"";
    for (const auto& f : fields) {
      line += ",\"" + jsonEscape(f.key) + "\":";
      if (f.value.quoted()) line += "\"" + jsonEscape(f.value.text()) + "\"";
      else line += f.value.text();
    }
    line += "}\n";
  } else {
    line = ts + " " + levelName(level) + " " + name_ + ": " + std::string(msg);
    for (const auto& f : fields) line += " " + std::string(f.key) + "=" + f.value.text();
    line += "\n";
  }
  std::lock_guard<std::mutex> lock(s.mu);
  (*s.out) << line << std::flush;
}

}  // namespace keygate::log
