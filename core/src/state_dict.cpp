#include "glimpse/core/state_dict.h"

#include <set>
#include <sstream>

namespace glimpse::core {

namespace {
std::string shape_str(c10::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i)
    o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}
// A weight that is NaN or infinite makes every output NaN: refuse the file, naming the tensor.
void check_finite(const std::string& name, const torch::Tensor& t) {
  if (!t.is_floating_point())
    return;
  const int64_t bad = (~torch::isfinite(t)).sum().item<int64_t>();
  if (bad != 0)
    throw Error(ErrorCode::kCorrupt,
                "tensor '" + name + "' holds " + std::to_string(bad) + " NaN or infinite value" +
                    (bad == 1 ? "" : "s") + " (of " + std::to_string(t.numel()) +
                    "): the file is damaged or was written by a training run that diverged");
}
}  // namespace

NamedTensors state_dict(const torch::nn::Module& module, const std::string& prefix) {
  NamedTensors out;
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    out.emplace_back(prefix + b.key(), b.value());
  return out;
}

Status load_state_dict(torch::nn::Module& module, const SafetensorsFile& file,
                       const LoadStateOptions& options) {
  return catch_as_status([&] {
    NamedTensors targets = state_dict(module, options.prefix);
    std::vector<torch::Tensor> values;
    values.reserve(targets.size());
    std::set<std::string> wanted;
    for (const auto& [name, target] : targets) {
      wanted.insert(name);
      auto it = file.entries().find(name);
      if (it == file.entries().end())
        throw Error(ErrorCode::kCorrupt, "tensor '" + name + "' is missing from the weights file");
      if (c10::IntArrayRef(it->second.shape) != target.sizes())
        throw Error(ErrorCode::kCorrupt,
                    "tensor '" + name + "' has shape " + shape_str(it->second.shape) +
                        " in the file but the model needs " + shape_str(target.sizes()));
      values.push_back(file.tensor(name).to(target.scalar_type()));
      check_finite(name, values.back());
    }
    if (!options.allow_unexpected) {
      for (const auto& [name, entry] : file.entries())
        if (name.rfind(options.prefix, 0) == 0 && !wanted.count(name))
          throw Error(ErrorCode::kCorrupt,
                      "the weights file has tensor '" + name + "' that the model does not have");
    }
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < targets.size(); ++i)
      targets[i].second.copy_(values[i]);
  });
}

}  // namespace glimpse::core
