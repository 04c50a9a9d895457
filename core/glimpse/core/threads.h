// Thread counts for LibTorch. LibTorch as packaged here defaults to one intra-op thread;
// glimpse defaults to every core the machine has.
#pragma once

#include <string>

namespace glimpse::core {

// The machine's hardware threads (at least 1).
int default_threads();

// Once per process, before any tensor work: flushes denormal floats to zero, and when the
// OpenBLAS loaded runs its generic kernels on a CPU it does not know (OpenBLAS 0.3.21 on Intel
// cores newer than it), switches it to the kernels of the best core it knows that this CPU can run
// (SkylakeX with AVX-512, Haswell with AVX2), unless OPENBLAS_CORETYPE is set. Returns the core
// switched to, or "" when nothing was switched. set_threads calls it.
std::string tune_cpu();

// Sets LibTorch's intra-op thread count; n <= 0 means default_threads(). Returns the count set.
// OpenBLAS is kept to one thread of its own: LibTorch already runs its OpenMP threads, and the
// two pools spinning against each other on two cores made a training step 2.5x slower
// (79 vs 203 sequences/s measured on the shapes model), while the encoder was unaffected.
int set_threads(int n);

// OpenBLAS's own thread count (no-op, returning -1, when the BLAS in use is not OpenBLAS).
int set_blas_threads(int n);

}  // namespace glimpse::core
