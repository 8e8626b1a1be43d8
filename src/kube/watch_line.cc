#include "kube/client.h"

namespace keygate::kube {

const char* watchEventTypeName(WatchEvent::Type t) {
  switch (t) {
    case WatchEvent::Type::kAdded: return "ADDED";
    case WatchEvent::Type::kModified: return "MODIFIED";
    case WatchEvent::Type::kDeleted: return "DELETED";
    case WatchEvent::Type::kBookmark: return "BOOKMARK";
    case WatchEvent::Type::kError: return "ERROR";
  }
  return "UNKNOWN";
}

Result<WatchEvent> decodeWatchLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  ASSIGN_OR_RETURN(Json j, parseJson(line));
  if (!j.is_object()) return makeError(ErrorCode::kInvalidArgument, "watch event is not a JSON object");
  auto t = j.find("type");
  auto o = j.find("object");
  if (t == j.end() || !t->is_string() || o == j.end() || !o->is_object())
    return makeError(ErrorCode::kInvalidArgument, "watch event lacks a string \"type\" or an object \"object\"");
  const std::string& type = t->get_ref<const std::string&>();
  WatchEvent ev;
  if (type == "ADDED") ev.type = WatchEvent::Type::kAdded;
  else if (type == "MODIFIED") ev.type = WatchEvent::Type::kModified;
  else if (type == "DELETED") ev.type = WatchEvent::Type::kDeleted;
  else if (type == "BOOKMARK") ev.type = WatchEvent::Type::kBookmark;
  else if (type == "ERROR") ev.type = WatchEvent::Type::kError;
  else return makeError(ErrorCode::kInvalidArgument, "unknown watch event type \"" + type + "\"");
  ev.object = std::move(*o);
  return ev;
}

}  // namespace keygate::kube
