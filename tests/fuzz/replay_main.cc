// The smoke driver `make test` links the fuzz targets with (g++, no libFuzzer): every seed in
// the given corpus directories, then `-runs=N` inputs made from them by random mutation (flip,
// insert, erase, duplicate, splice, truncate) with a fixed PRNG seed, so a failure repeats.
// Coverage-guided fuzzing is `make fuzz` (clang, libFuzzer); this only shows that each target
// builds, runs its seeds and survives cheap mutations on every commit.
//
//   fuzz_<target> [-runs=N] [-seed=S] DIR...
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

Bytes mutate(const std::vector<Bytes>& corpus, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t(0) : static_cast<size_t>(rng() % n); };
  Bytes b = corpus.empty() ? Bytes() : corpus[pick(corpus.size())];
  const int steps = 1 + static_cast<int>(pick(4));
  for (int s = 0; s < steps; ++s) {
    switch (pick(6)) {
      case 0:  // flip a byte
        if (!b.empty()) b[pick(b.size())] ^= static_cast<uint8_t>(1u << pick(8));
        break;
      case 1:  // insert a random (often structural) byte
        b.insert(b.begin() + static_cast<long>(pick(b.size() + 1)),
                 static_cast<uint8_t>(pick(2) ? "{}[]\":,\n -#&*!|>'0"[pick(19)] : rng()));
        break;
      case 2:  // erase a range
        if (!b.empty()) {
          size_t at = pick(b.size()), n = 1 + pick(std::min<size_t>(16, b.size() - at));
          b.erase(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + n));
        }
        break;
      case 3:  // duplicate a range
        if (!b.empty() && b.size() < (1u << 16)) {
          size_t at = pick(b.size()), n = 1 + pick(std::min<size_t>(64, b.size() - at));
          Bytes piece(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + n));
          b.insert(b.begin() + static_cast<long>(pick(b.size() + 1)), piece.begin(), piece.end());
        }
        break;
      case 4:  // splice with another seed
        if (!corpus.empty()) {
          const Bytes& o = corpus[pick(corpus.size())];
          size_t cut = pick(b.size() + 1), from = pick(o.size() + 1);
          b.resize(cut);
          b.insert(b.end(), o.begin() + static_cast<long>(from), o.end());
        }
        break;
      default:  // truncate
        b.resize(pick(b.size() + 1));
    }
  }
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 0;
  uint64_t seed = 1;
  std::vector<Bytes> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) { runs = std::atol(a.c_str() + 6); continue; }
    if (a.rfind("-seed=", 0) == 0) { seed = std::strtoull(a.c_str() + 6, nullptr, 10); continue; }
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(a, ec)) {
      if (!e.is_regular_file()) continue;
      std::ifstream f(e.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    if (ec) {
      std::fprintf(stderr, "%s: %s\n", a.c_str(), ec.message().c_str());
      return 2;
    }
  }
  // KEYGATE_FUZZ_LAST=FILE: each input is written there before it runs, so the one that
  // crashed (or was killed) is left behind.
  const char* last = std::getenv("KEYGATE_FUZZ_LAST");
  auto run = [&](const Bytes& b) {
    if (last) std::ofstream(last, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    LLVMFuzzerTestOneInput(b.data(), b.size());
  };
  for (const Bytes& b : corpus) run(b);
  std::mt19937_64 rng(seed);
  for (long r = 0; r < runs; ++r) run(mutate(corpus, rng));
  std::printf("%s: %zu seeds and %ld mutated inputs, no crash\n", argv[0], corpus.size(), runs);
  return 0;
}
