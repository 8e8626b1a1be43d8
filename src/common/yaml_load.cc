#include "common/yaml_load.h"

#include <yaml-cpp/eventhandler.h>

#include <sstream>

namespace keygate::yamlsafe {
namespace {

// Counts a document's events and remembers where its first one is.
class Probe final : public YAML::EventHandler {
 public:
  void reset() { events_ = 0, first_ = YAML::Mark::null_mark(), onlyNull_ = true; }
  size_t events() const { return events_; }
  const YAML::Mark& first() const { return first_; }
  bool onlyNull() const { return onlyNull_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { note(m, true); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { note(m, false); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { note(m, false); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(m, false);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(m, false);
  }
  void OnMapEnd() override {}

 private:
  void note(const YAML::Mark& m, bool isNull) {
    if (events_++ == 0) first_ = m;
    onlyNull_ = onlyNull_ && isNull;
  }
  size_t events_ = 0;
  YAML::Mark first_ = YAML::Mark::null_mark();
  bool onlyNull_ = true;
};

bool sameMark(const YAML::Mark& a, const YAML::Mark& b) { return a.pos == b.pos && a.line == b.line && a.column == b.column; }

// Walks every document; throws where the parser stops consuming input: two documents in a row
// that are a lone null at the same position.
void checkTerminates(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  Probe probe;
  YAML::Mark lastNull = YAML::Mark::null_mark();
  bool previousWasLoneNull = false;
  for (;;) {
    probe.reset();
    if (!parser.HandleNextDocument(probe)) return;
    const bool loneNull = probe.events() == 1 && probe.onlyNull();
    if (loneNull && previousWasLoneNull && sameMark(probe.first(), lastNull))
      throw YAML::ParserException(probe.first(), "unexpected character; the YAML parser cannot continue here");
    previousWasLoneNull = loneNull;
    lastNull = probe.first();
  }
}

}  // namespace

YAML::Node load(const std::string& text) {
  checkTerminates(text);
  return YAML::Load(text);
}

std::vector<YAML::Node> loadAll(const std::string& text) {
  checkTerminates(text);
  return YAML::LoadAll(text);
}

}  // namespace keygate::yamlsafe
