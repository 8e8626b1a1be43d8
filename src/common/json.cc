#include "common/json.h"

namespace keygate {

Result<Json> parseJson(std::string_view text) {
  // nlohmann reports the byte offset only through its exception; it is caught right here.
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return makeError(ErrorCode::kInvalidArgument, std::string("invalid JSON: ") + e.what());
  }
}

const Json* findPath(const Json& j, std::string_view path) {
  const Json* cur = &j;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(std::string(part));
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  return cur;
}

std::string getString(const Json& j, std::string_view path, std::string fallback) {
  const Json* v = findPath(j, path);
  if (v && v->is_string()) return v->get<std::string>();
  return fallback;
}

int64_t getInt(const Json& j, std::string_view path, int64_t fallback) {
  const Json* v = findPath(j, path);
  if (v && v->is_number_integer()) return v->get<int64_t>();
  if (v && v->is_number_unsigned()) return static_cast<int64_t>(v->get<uint64_t>());
  return fallback;
}

std::string dumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace keygate
