// What every fuzz target here shares. A target defines LLVMFuzzerTestOneInput (and, when it
// needs one, LLVMFuzzerInitialize); it is linked either with libFuzzer (scripts/fuzz.sh, clang,
// -fsanitize=fuzzer,address,undefined) or with replay_main.cpp, which runs the checked-in
// corpus through it in the ordinary test suite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace glimpse::fuzzing {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property that must hold for every input: when it does not, say which and abort, so that
// libFuzzer keeps the input as a crash.
inline void require(bool ok, const char* what, std::string_view detail = {}) {
  if (ok)
    return;
  const std::string shown(detail.substr(0, 400));
  std::fprintf(stderr, "fuzz property violated: %s %s\n", what, shown.c_str());
  std::abort();
}

}  // namespace glimpse::fuzzing

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
