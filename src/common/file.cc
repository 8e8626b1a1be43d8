#include "common/file.h"

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

}  // namespace keygate
