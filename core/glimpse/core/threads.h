// Thread counts for LibTorch. LibTorch as packaged here defaults to one intra-op thread;
// glimpse defaults to every core the machine has.
#pragma once

namespace glimpse::core {

// The machine's hardware threads (at least 1).
int default_threads();

// Sets LibTorch's intra-op thread count; n <= 0 means default_threads(). Returns the count set.
int set_threads(int n);

}  // namespace glimpse::core
