#include "glimpse/web/json_codec.h"

#include <cmath>

namespace glimpse::web {

using nlohmann::json;

namespace {

// Attention values with 4 decimals: enough for a heat map, a third of the JSON.
json rounded(const float* p, int64_t n) {
  json a = json::array();
  for (int64_t i = 0; i < n; ++i)
    a.push_back(std::round(static_cast<double>(p[i]) * 1e4) / 1e4);
  return a;
}

}  // namespace

json result_json(const fusion::ServiceResult& r) {
  json words = json::array();
  for (size_t i = 0; i < r.words.size(); ++i)
    words.push_back(
        {{"word", r.words[i]}, {"log_prob", i < r.log_probs.size() ? r.log_probs[i] : 0}});
  json maps = json::array();
  const int64_t cells = static_cast<int64_t>(r.grid_h) * r.grid_w;
  const float* p = r.attention.data();
  for (size_t w = 0; w < r.words.size(); ++w) {
    json layers = json::array();
    for (int l = 0; l < r.layers; ++l) {
      json heads = json::array();
      for (int h = 0; h < r.heads; ++h, p += cells)
        heads.push_back(rounded(p, cells));
      layers.push_back(std::move(heads));
    }
    maps.push_back(std::move(layers));
  }
  return {{"text", r.text},
          {"words", words},
          {"finished", r.finished},
          {"attention",
           {{"grid_h", r.grid_h},
            {"grid_w", r.grid_w},
            {"layers", r.layers},
            {"heads", r.heads},
            {"maps", maps}}}};
}

std::string dump_json(const json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace glimpse::web
