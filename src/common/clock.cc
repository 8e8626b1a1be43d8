#include "common/clock.h"

namespace keygate {

const Clock& realClock() {
  static const RealClock clock;
  return clock;
}

}  // namespace keygate
