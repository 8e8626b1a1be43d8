#pragma once
// A throwaway SoftHSM2 token directory: writes softhsm2.conf, points SOFTHSM2_CONF at it
// (SoftHSM reads it at C_Initialize, so create this before loading the module) and removes
// everything on destruction. For benchmarks and one-off tools; tests use SoftHsmEnv.

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace keygate::testing {

class SoftHsmTempDir {
 public:
  SoftHsmTempDir() : dir_("keygate-softhsm") {
    std::filesystem::create_directories(dir_.path() + "/tokens");
    dir_.write("softhsm2.conf", "directories.tokendir = " + dir_.path() + "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n");
    ::setenv("SOFTHSM2_CONF", (dir_.path() + "/softhsm2.conf").c_str(), 1);
  }
  const std::string& path() const { return dir_.path(); }

 private:
  TempDir dir_;
};

}  // namespace keygate::testing
