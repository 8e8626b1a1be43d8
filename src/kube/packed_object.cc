#include "kube/packed_object.h"

#include <zlib.h>

#include <optional>
#include <vector>

namespace keygate::kube {
namespace {

// Raw deflate with an 8 KiB window: a dictionary (at most 4 KiB) and a typical object both
// fit (larger objects still pack, less well), and each thread's compressor stays small.
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

ObjectPacker::Dictionaries ObjectPacker::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dictionaries_;
}

size_t ObjectPacker::dictionaries() const { return snapshot()->size(); }

ObjectPacker::Dictionaries ObjectPacker::addDictionary(const std::string& cbor) {
  std::lock_guard<std::mutex> lock(mu_);
  if (dictionaries_->size() >= kMaxDictionaries) return dictionaries_;
  auto next = std::make_shared<std::vector<std::string>>(*dictionaries_);
  next->push_back(cbor.size() > kDictionaryBytes ? cbor.substr(cbor.size() - kDictionaryBytes) : cbor);
  dictionaries_ = next;
  return dictionaries_;
}

namespace {

// Deflates cbor against dictionary `index`; empty on failure.
std::string deflateWith(const std::string& cbor, const std::string& dict, size_t index) {
  thread_local Deflater d;
  if (!d.ok || deflateReset(&d.s) != Z_OK ||
      deflateSetDictionary(&d.s, bytes(dict), static_cast<uInt>(dict.size())) != Z_OK)
    return {};
  std::string out(2 + deflateBound(&d.s, static_cast<uLong>(cbor.size())), '\0');
  out[0] = 'Z';
  out[1] = static_cast<char>(index);
  d.s.next_in = const_cast<Bytef*>(bytes(cbor));
  d.s.avail_in = static_cast<uInt>(cbor.size());
  d.s.next_out = reinterpret_cast<Bytef*>(out.data() + 2);
  d.s.avail_out = static_cast<uInt>(out.size() - 2);
  if (deflate(&d.s, Z_FINISH) != Z_STREAM_END) return {};
  out.resize(out.size() - d.s.avail_out);
  return out;
}

}  // namespace

std::string ObjectPacker::pack(const Json& obj) {
  std::string cbor;
  Json::to_cbor(obj, cbor);
  Dictionaries dicts = snapshot();
  if (dicts->empty()) dicts = addDictionary(cbor);
  // Good enough: a third of the CBOR or less (objects like the dictionary reach a tenth).
  auto good = [&cbor](const std::string& p) { return !p.empty() && p.size() * 3 <= cbor.size() + 64; };
  std::string best = deflateWith(cbor, (*dicts)[0], 0);
  for (size_t i = 1; i < dicts->size() && !good(best); ++i) {
    std::string p = deflateWith(cbor, (*dicts)[i], i);
    if (!p.empty() && (best.empty() || p.size() < best.size())) best = std::move(p);
  }
  if (!good(best) && dicts->size() < kMaxDictionaries && cbor.size() >= 256) {
    dicts = addDictionary(cbor);
    size_t index = dicts->size() - 1;
    std::string p = deflateWith(cbor, (*dicts)[index], index);
    if (!p.empty() && (best.empty() || p.size() < best.size())) best = std::move(p);
  }
  if (best.empty()) return "C" + cbor;
  best.shrink_to_fit();
  return best;
}

std::optional<Json> ObjectPacker::unpack(const std::string& packed) const {
  if (packed.empty()) return std::nullopt;
  if (packed[0] == 'C') {
    Json j = Json::from_cbor(packed.begin() + 1, packed.end(), true, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }
  if (packed[0] != 'Z' || packed.size() < 2) return std::nullopt;
  Dictionaries dicts = snapshot();
  size_t index = static_cast<unsigned char>(packed[1]);
  if (index >= dicts->size()) return std::nullopt;
  const std::string& dict = (*dicts)[index];
  thread_local Inflater in;
  if (!in.ok || inflateReset(&in.s) != Z_OK ||
      inflateSetDictionary(&in.s, bytes(dict), static_cast<uInt>(dict.size())) != Z_OK)
    return std::nullopt;
  thread_local std::vector<uint8_t> cbor;
  cbor.resize(std::max<size_t>(cbor.size(), packed.size() * 4 + 256));
  in.s.next_in = const_cast<Bytef*>(bytes(packed)) + 2;
  in.s.avail_in = static_cast<uInt>(packed.size() - 2);
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
