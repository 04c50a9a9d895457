// Whole-file reads and atomic writes.
#pragma once

#include <cstdint>
#include <string>

namespace glimpse::core {

// Reads a whole file. Throws glimpse::Error (kNotFound, kIo, kTooLarge over max_bytes) with a
// message naming the path.
std::string read_file(const std::string& path, std::uint64_t max_bytes = UINT64_MAX);

// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename, fsync
// of the folder. A reader sees the old file or the new one, never a mix. Throws glimpse::Error.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace glimpse::core
