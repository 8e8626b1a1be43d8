#include "kube/packed_object.h"

#include <zlib.h>

#include <optional>
#include <vector>

namespace keygate::kube {
namespace {

// Raw deflate with an 8 KiB window: the dictionary and an object both fit (larger objects
// still pack, a little less well), and each thread's compressor stays small (~40 KiB).
constexpr int kWindowBits = -13;
constexpr int kMemLevel = 6;
constexpr int kLevel = 1;  // the dictionary does the work; higher levels cost time, not bytes

struct Deflater {
  z_stream s{};
  bool ok = deflateInit2(&s, kLevel, Z_DEFLATED, kWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) == Z_OK;
  ~Deflater() { deflateEnd(&s); }
};

struct Inflater {
  z_stream s{};
  bool ok = inflateInit2(&s, kWindowBits) == Z_OK;
  ~Inflater() { inflateEnd(&s); }
};

const Bytef* bytes(const std::string& s) { return reinterpret_cast<const Bytef*>(s.data()); }

}  // namespace

std::shared_ptr<const std::string> ObjectPacker::dictionary() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dictionary_;
}

std::string ObjectPacker::pack(const Json& obj) {
  std::string cbor;
  Json::to_cbor(obj, cbor);
  std::shared_ptr<const std::string> dict = dictionary();
  if (!dict) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dictionary_) dictionary_ = std::make_shared<const std::string>(cbor);
    dict = dictionary_;
  }
  thread_local Deflater d;
  auto plain = [&cbor] { return "C" + cbor; };
  if (!d.ok || deflateReset(&d.s) != Z_OK ||
      deflateSetDictionary(&d.s, bytes(*dict), static_cast<uInt>(dict->size())) != Z_OK)
    return plain();
  std::string out(1 + deflateBound(&d.s, static_cast<uLong>(cbor.size())), 'Z');
  d.s.next_in = const_cast<Bytef*>(bytes(cbor));
  d.s.avail_in = static_cast<uInt>(cbor.size());
  d.s.next_out = reinterpret_cast<Bytef*>(out.data() + 1);
  d.s.avail_out = static_cast<uInt>(out.size() - 1);
  if (deflate(&d.s, Z_FINISH) != Z_STREAM_END) return plain();
  out.resize(out.size() - d.s.avail_out);
  out.shrink_to_fit();
  return out;
}

std::optional<Json> ObjectPacker::unpack(const std::string& packed) const {
  if (packed.empty()) return std::nullopt;
  if (packed[0] == 'C') {
    Json j = Json::from_cbor(packed.begin() + 1, packed.end(), true, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }
  std::shared_ptr<const std::string> dict = dictionary();
  if (packed[0] != 'Z' || !dict) return std::nullopt;
  thread_local Inflater in;
  if (!in.ok || inflateReset(&in.s) != Z_OK ||
      inflateSetDictionary(&in.s, bytes(*dict), static_cast<uInt>(dict->size())) != Z_OK)
    return std::nullopt;
  thread_local std::vector<uint8_t> cbor;
  cbor.resize(std::max<size_t>(cbor.size(), packed.size() * 4 + 256));
  in.s.next_in = const_cast<Bytef*>(bytes(packed)) + 1;
  in.s.avail_in = static_cast<uInt>(packed.size() - 1);
  size_t produced = 0;
  while (true) {
    in.s.next_out = cbor.data() + produced;
    in.s.avail_out = static_cast<uInt>(cbor.size() - produced);
    int rc = inflate(&in.s, Z_NO_FLUSH);
    produced = cbor.size() - in.s.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return std::nullopt;
    if (in.s.avail_out != 0) return std::nullopt;  // truncated input
    cbor.resize(cbor.size() * 2);
  }
  Json j = Json::from_cbor(cbor.begin(), cbor.begin() + static_cast<std::ptrdiff_t>(produced), true, false);
  if (j.is_discarded()) return std::nullopt;
  if (cbor.size() > (1u << 20)) {  // one huge object once: do not keep its buffer per thread
    cbor.clear();
    cbor.shrink_to_fit();
  }
  return j;
}

}  // namespace keygate::kube
