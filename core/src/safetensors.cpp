#include "glimpse/core/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "glimpse/core/file_util.h"

namespace glimpse::core {

namespace {

using nlohmann::json;

// The header is small for any real model (ours: 30 KB); refusing huge ones keeps a hostile
// file from making us parse gigabytes of JSON.
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeInfo {
  const char* name;
  torch::ScalarType type;
  int size;
};

constexpr DTypeInfo kDTypes[] = {
    {"F64", torch::kFloat64, 8},   {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DTypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name)
      return &d;
  return nullptr;
}

const DTypeInfo* find_dtype(torch::ScalarType t) {
  for (const auto& d : kDTypes)
    if (t == d.type)
      return &d;
  return nullptr;
}

std::string valid_dtypes() {
  std::string s;
  for (const auto& d : kDTypes)
    s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

[[noreturn]] void corrupt(const std::string& source, const std::string& what) {
  throw Error(ErrorCode::kCorrupt, "'" + source + "' is not a valid safetensors file: " + what);
}

std::uint64_t read_le64(const std::string& b) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(b[static_cast<size_t>(i)]);
  return v;
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  return catch_as_result([&] { return parse(read_file(path), path).take(); });
}

Result<SafetensorsFile> SafetensorsFile::parse(std::string bytes, const std::string& source) {
  return catch_as_result([&]() -> SafetensorsFile {
    SafetensorsFile f;
    f.source_ = source;
    if (bytes.size() < 8)
      corrupt(source, "it is " + std::to_string(bytes.size()) +
                          " bytes long, shorter than the 8-byte header length");
    std::uint64_t n = read_le64(bytes);
    if (n > kMaxHeaderBytes)
      corrupt(source, "header length " + std::to_string(n) + " is over the " +
                          std::to_string(kMaxHeaderBytes) + "-byte limit");
    if (n > bytes.size() - 8)
      corrupt(source, "header length " + std::to_string(n) + " runs past the end of the file (" +
                          std::to_string(bytes.size()) + " bytes): the file is truncated");
    json header;
    try {
      header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
    } catch (const json::exception& e) {
      corrupt(source, std::string("header is not valid JSON (") + e.what() + ")");
    }
    if (!header.is_object())
      corrupt(source, "header is not a JSON object");

    const std::uint64_t data_size = bytes.size() - 8 - n;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& name = it.key();
      const json& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object())
          corrupt(source, "__metadata__ is not an object");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string())
            corrupt(source, "__metadata__[\"" + m.key() + "\"] is not a string");
          f.metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      const std::string where = "tensor '" + name + "'";
      if (name.empty())
        corrupt(source, "a tensor has an empty name");
      if (!v.is_object())
        corrupt(source, where + " is not an object");
      if (!v.contains("dtype") || !v["dtype"].is_string())
        corrupt(source, where + " has no dtype string");
      if (!v.contains("shape") || !v["shape"].is_array())
        corrupt(source, where + " has no shape array");
      if (!v.contains("data_offsets") || !v["data_offsets"].is_array() ||
          v["data_offsets"].size() != 2)
        corrupt(source, where + " has no [begin, end] data_offsets");
      TensorEntry e;
      e.dtype = v["dtype"].get<std::string>();
      const DTypeInfo* dt = find_dtype(e.dtype);
      if (dt == nullptr)
        corrupt(source,
                where + " has unknown dtype '" + e.dtype + "' (known: " + valid_dtypes() + ")");
      std::uint64_t numel = 1;
      for (const auto& d : v["shape"]) {
        if (!d.is_number_unsigned())
          corrupt(source, where + " has a shape entry that is not a non-negative integer");
        std::uint64_t dim = d.get<std::uint64_t>();
        if (dim > static_cast<std::uint64_t>(std::numeric_limits<int64_t>::max()) ||
            (dim != 0 && numel > std::numeric_limits<std::uint64_t>::max() / dim))
          corrupt(source, where + " has a shape too large to address");
        numel *= dim;
        e.shape.push_back(static_cast<int64_t>(dim));
      }
      for (const auto& o : v["data_offsets"])
        if (!o.is_number_unsigned())
          corrupt(source, where + " has a data offset that is not a non-negative integer");
      e.begin = v["data_offsets"][0].get<std::uint64_t>();
      e.end = v["data_offsets"][1].get<std::uint64_t>();
      if (e.begin > e.end)
        corrupt(source, where + " has data_offsets with begin after end");
      if (e.end > data_size)
        corrupt(source, where + " ends at byte " + std::to_string(e.end) +
                            " but the data section holds " + std::to_string(data_size) +
                            " bytes: the file is truncated");
      if (numel >
              std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(dt->size) ||
          e.end - e.begin != numel * static_cast<std::uint64_t>(dt->size))
        corrupt(source, where + " holds " + std::to_string(e.end - e.begin) +
                            " bytes but its dtype and shape need " +
                            std::to_string(numel * static_cast<std::uint64_t>(dt->size)));
      ranges.emplace_back(e.begin, e.end);
      f.entries_.emplace(name, std::move(e));
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
      if (ranges[i].first < ranges[i - 1].second)
        corrupt(source, "two tensors' byte ranges overlap");

    f.data_start_ = 8 + n;
    f.bytes_ = std::make_shared<const std::string>(std::move(bytes));
    return f;
  });
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    throw Error(ErrorCode::kNotFound, "tensor '" + name + "' is not in '" + source_ + "'");
  const TensorEntry& e = it->second;
  const DTypeInfo* dt = find_dtype(e.dtype);
  auto t = torch::empty(e.shape, torch::TensorOptions().dtype(dt->type));
  if (e.end > e.begin)
    std::memcpy(t.data_ptr(), bytes_->data() + data_start_ + e.begin, e.end - e.begin);
  return t;
}

std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty())
    header["__metadata__"] = metadata;
  std::set<std::string> seen;
  std::vector<torch::Tensor> ordered;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__")
      throw Error(ErrorCode::kInvalidArgument, "invalid tensor name '" + name + "'");
    if (!seen.insert(name).second)
      throw Error(ErrorCode::kInvalidArgument, "tensor name '" + name + "' appears twice");
    const DTypeInfo* dt = find_dtype(tensor.scalar_type());
    if (dt == nullptr)
      throw Error(ErrorCode::kInvalidArgument,
                  "tensor '" + name + "' has a dtype safetensors cannot store");
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    std::uint64_t nbytes =
        static_cast<std::uint64_t>(t.numel()) * static_cast<std::uint64_t>(dt->size);
    header[name] = {{"dtype", dt->name},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    ordered.push_back(t);
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0)
    h.push_back(' ');  // keeps the data section 8-byte aligned
  std::string out(8, '\0');
  std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += h;
  out.reserve(out.size() + offset);
  // json objects iterate in key order; data follows the order of `tensors`, which is what the
  // offsets above recorded.
  for (const auto& t : ordered)
    out.append(static_cast<const char*>(t.data_ptr()),
               static_cast<size_t>(t.numel()) * t.element_size());
  return out;
}

Status save_safetensors(const std::string& path, const NamedTensors& tensors,
                        const std::map<std::string, std::string>& metadata) {
  return catch_as_status(
      [&] { write_file_atomic(path, serialize_safetensors(tensors, metadata)); });
}

}  // namespace glimpse::core
