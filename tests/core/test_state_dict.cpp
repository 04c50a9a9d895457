#include "glimpse/core/state_dict.h"

#include <gtest/gtest.h>

#include <limits>

namespace glimpse::core {
namespace {

struct NetImpl : torch::nn::Module {
  NetImpl()
      : fc(register_module("fc", torch::nn::Linear(3, 2))),
        bn(register_module("bn", torch::nn::BatchNorm1d(2))) {}
  torch::nn::Linear fc;
  torch::nn::BatchNorm1d bn;
};
TORCH_MODULE(Net);

TEST(StateDict, NamesParametersAndBuffersByRegisteredName) {
  Net n;
  std::vector<std::string> names;
  for (const auto& [k, v] : state_dict(*n, "m."))
    names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"m.fc.weight", "m.fc.bias", "m.bn.weight", "m.bn.bias",
                                             "m.bn.running_mean", "m.bn.running_var",
                                             "m.bn.num_batches_tracked"}));
}

TEST(StateDict, RoundTripsThroughSafetensorsIncludingFp16Storage) {
  Net a, b;
  NamedTensors half;
  for (auto& [k, v] : state_dict(*a))
    half.emplace_back(k, v.is_floating_point() ? v.to(torch::kFloat16) : v);
  auto f = SafetensorsFile::parse(serialize_safetensors(half)).take();
  ASSERT_TRUE(load_state_dict(*b, f).ok());
  EXPECT_TRUE(torch::allclose(a->fc->weight, b->fc->weight, 1e-3, 1e-3));
  EXPECT_EQ(b->fc->weight.scalar_type(), torch::kFloat32);
}

TEST(StateDict, MissingTensorIsNamedAndNothingIsLoaded) {
  Net a, b;
  auto before = b->fc->weight.clone();
  NamedTensors some = state_dict(*a);
  some.erase(some.begin() + 1);  // drop fc.bias
  auto f = SafetensorsFile::parse(serialize_safetensors(some)).take();
  Status s = load_state_dict(*b, f);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "tensor 'fc.bias' is missing from the weights file");
  EXPECT_TRUE(torch::equal(before, b->fc->weight));
}

TEST(StateDict, NaNOrInfiniteWeightsAreRefusedNamingTheTensor) {
  Net a, b;
  auto before = b->fc->weight.clone();
  NamedTensors bad = state_dict(*a);
  bad[2].second = bad[2].second.clone();  // bn.weight
  bad[2].second[1] = std::numeric_limits<float>::quiet_NaN();
  auto f = SafetensorsFile::parse(serialize_safetensors(bad)).take();
  Status s = load_state_dict(*b, f);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(s.error().message,
            "tensor 'bn.weight' holds 1 NaN or infinite value (of 2): the file is damaged or was "
            "written by a training run that diverged");
  EXPECT_TRUE(torch::equal(before, b->fc->weight));

  bad = state_dict(*a);
  bad[0].second = torch::full({2, 3}, -std::numeric_limits<float>::infinity()).to(torch::kFloat16);
  s = load_state_dict(*b, SafetensorsFile::parse(serialize_safetensors(bad)).take());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message.rfind("tensor 'fc.weight' holds 6 NaN or infinite values (of 6)", 0),
            0u)
      << s.error().message;
}

TEST(StateDict, ShapeMismatchNamesBothShapes) {
  Net b;
  NamedTensors wrong = state_dict(*b);
  wrong[0].second = torch::zeros({4, 3});
  auto f = SafetensorsFile::parse(serialize_safetensors(wrong)).take();
  Status s = load_state_dict(*b, f);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "tensor 'fc.weight' has shape [4, 3] in the file but the model needs [2, 3]");
}

TEST(StateDict, UnexpectedTensorsRefusedWhenStrict) {
  Net b;
  NamedTensors extra = state_dict(*b);
  extra.emplace_back("fc.extra", torch::zeros({1}));
  auto f = SafetensorsFile::parse(serialize_safetensors(extra)).take();
  EXPECT_TRUE(load_state_dict(*b, f).ok());
  LoadStateOptions strict;
  strict.allow_unexpected = false;
  Status s = load_state_dict(*b, f, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("'fc.extra'"), std::string::npos);
}

}  // namespace
}  // namespace glimpse::core
