#pragma once
// Structured logging: one line per event, JSON (default) or text, with a logger name and
// key/value fields. Never pass key material, PINs or tokens as fields.

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>

namespace keygate::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kJson, kText };

// Process-wide sink settings; set once by main before threads start.
void configure(Level level, Format format, std::ostream* out = nullptr);
bool parseLevel(std::string_view s, Level* out);
bool enabled(Level level);

// A field value remembers whether it is a string (quoted in JSON) or a number/bool.
class Value {
 public:
  Value(const char* s) : text_(s ? s : ""), quoted_(true) {}           // NOLINT
  Value(std::string s) : text_(std::move(s)), quoted_(true) {}        // NOLINT
  Value(std::string_view s) : text_(s), quoted_(true) {}              // NOLINT
  Value(bool b) : text_(b ? "true" : "false"), quoted_(false) {}      // NOLINT
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>>
  Value(T n) : text_(std::to_string(n)), quoted_(false) {}            // NOLINT
  const std::string& text() const { return text_; }
  bool quoted() const { return quoted_; }

 private:
  std::string text_;
  bool quoted_;
};

struct Field {
  std::string_view key;
  Value value;
};
using Fields = std::initializer_list<Field>;

class Logger {
 public:
  explicit Logger(std::string name) : name_(std::move(name)) {}
  void debug(std::string_view msg, Fields fields = {}) const { write(Level::kDebug, msg, fields); }
  void info(std::string_view msg, Fields fields = {}) const { write(Level::kInfo, msg, fields); }
  void warn(std::string_view msg, Fields fields = {}) const { write(Level::kWarn, msg, fields); }
  void error(std::string_view msg, Fields fields = {}) const { write(Level::kError, msg, fields); }
  void write(Level level, std::string_view msg, Fields fields) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// JSON string escaping shared by the logger and the audit writer.
std::string jsonEscape(std::string_view s);

}  // namespace keygate::log
