#include "glimpse/fusion/model_config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <type_traits>

#include "glimpse/core/json_integer.h"

namespace glimpse::fusion {

using nlohmann::json;

const char* to_string(EncoderKind kind) {
  return kind == EncoderKind::kSmallCnn ? "small_cnn" : "mobilenet_v2";
}

const char* to_string(DecoderKind kind) {
  return kind == DecoderKind::kLstm ? "lstm" : "transformer";
}

Result<EncoderKind> parse_encoder_kind(const std::string& name) {
  for (auto kind : {EncoderKind::kSmallCnn, EncoderKind::kMobileNetV2})
    if (name == to_string(kind))
      return kind;
  return ErrorInfo{ErrorCode::kInvalidArgument,
                   "unknown encoder '" + name + "' (small_cnn or mobilenet_v2)"};
}

Result<DecoderKind> parse_decoder_kind(const std::string& name) {
  for (auto kind : {DecoderKind::kLstm, DecoderKind::kTransformer})
    if (name == to_string(kind))
      return kind;
  return ErrorInfo{ErrorCode::kInvalidArgument,
                   "unknown decoder '" + name + "' (lstm or transformer)"};
}

std::string ModelConfig::to_json(bool every_key) const {
  json j;
  j["format_version"] = format_version;
  j["encoder"] = {{"kind", to_string(encoder)}};
  if (encoder == EncoderKind::kSmallCnn)
    j["encoder"].update({{"width", small_cnn.width},
                         {"depth", small_cnn.depth},
                         {"grid_h", small_cnn.grid_h},
                         {"grid_w", small_cnn.grid_w},
                         {"coords", small_cnn.coords},
                         {"context", small_cnn.context}});
  else
    j["encoder"].update(
        {{"trainable_from", mobilenet_trainable_from}, {"output_stride", mobilenet_output_stride}});
  j["decoder"] = {{"kind", to_string(decoder)}};
  if (decoder == DecoderKind::kLstm)
    j["decoder"].update({{"embed_dim", lstm.embed_dim},
                         {"hidden_dim", lstm.hidden_dim},
                         {"attention_dim", lstm.attention_dim},
                         {"attention", lstm.attention},
                         {"dropout", lstm.dropout}});
  else
    j["decoder"].update({{"d_model", transformer.d_model},
                         {"layers", transformer.layers},
                         {"heads", transformer.heads},
                         {"ffn_dim", transformer.ffn_dim},
                         {"dropout", transformer.dropout},
                         {"max_len", transformer.max_len},
                         {"attention", transformer.cross_attention},
                         {"memory_norm", transformer.memory_norm}});
  const bool film = fusion.kind != FusionKind::kNone;
  if (film)
    j["fusion"] = {{"kind", to_string(fusion.kind)},
                   {"blocks", fusion.blocks},
                   {"channels", fusion.channels},
                   {"embed_dim", fusion.embed_dim},
                   {"question_dim", fusion.question_dim},
                   {"kernel", fusion.kernel},
                   {"coords", fusion.coords}};
  else if (every_key)
    j["fusion"] = {{"kind", to_string(fusion.kind)}};
  if (film && (every_key || fusion.relations > 0))
    j["fusion"].update({{"relations", fusion.relations},
                        {"relation_heads", fusion.relation_heads},
                        {"relation_pool", fusion.relation_pool}});
  if (film && (every_key || fusion.locate_glimpses > 0))
    j["fusion"]["locate_glimpses"] = fusion.locate_glimpses;
  if (film && (every_key || fusion.locate_per_glimpse))
    j["fusion"]["locate_per_glimpse"] = fusion.locate_per_glimpse;
  if (film && (every_key || fusion.locate_words))
    j["fusion"]["locate_words"] = fusion.locate_words;
  if (film && (every_key || fusion.locate_compare > 0))
    j["fusion"]["locate_compare"] = fusion.locate_compare;
  if (film && (every_key || fusion.locate_contents))
    j["fusion"]["locate_contents"] = fusion.locate_contents;
  if (film && (every_key || fusion.locate_word_order))
    j["fusion"]["locate_word_order"] = fusion.locate_word_order;
  if (film && (every_key || fusion.count_maps > 0))
    j["fusion"]["count_maps"] = fusion.count_maps;
  if (film && (every_key || fusion.tie_plurals))
    j["fusion"]["tie_plurals"] = fusion.tie_plurals;
  if (every_key || blind)
    j["blind"] = blind;
  j["image"] = {{"width", image.width},
                {"height", image.height},
                {"mean", image.mean},
                {"std", image.stddev},
                {"resize", vision::to_string(image.resize)}};
  j["vocabulary"] = vocabulary;
  j["tasks"] = tasks;
  j["notice"] = notice;
  j["training"] = training;
  j["metrics"] = metrics;
  return j.dump();
}

namespace {
[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorCode::kCorrupt, "model config: " + what);
}

template <class T>
T get(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    bad(where + " has no \"" + key + "\"");
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (const auto n = core::json_integer<T>(j.at(key)))
      return *n;
    bad(where + "." + key + " must be an integer");
  } else {
    try {
      return j.at(key).get<T>();
    } catch (const json::exception&) {
      bad(where + "." + key + " has the wrong type");
    }
  }
}
// An integer field of "fusion" in [lo, hi], or its default when absent.
void fusion_field(const json& f, const char* key, int64_t& out, int64_t lo, int64_t hi) {
  if (!f.contains(key))
    return;
  const auto n = core::json_integer<int64_t>(f[key]);
  if (!n || *n < lo || *n > hi)
    bad("fusion." + std::string(key) + " must be an integer " + std::to_string(lo) + ".." +
        std::to_string(hi));
  out = *n;
}
// A true/false field of "fusion", or its default when absent.
void fusion_flag(const json& f, const char* key, bool& out) {
  if (!f.contains(key))
    return;
  if (!f[key].is_boolean())
    bad("fusion." + std::string(key) + " must be true or false");
  out = f[key].get<bool>();
}

FusionOptions fusion_from_json(const json& f) {
  FusionOptions o;
  const std::string kind = get<std::string>(f, "kind", "fusion");
  if (auto k = parse_fusion_kind(kind); !k)
    bad("fusion.kind: " + k.error().message);
  else
    o.kind = k.value();
  fusion_field(f, "blocks", o.blocks, 1, 8);
  fusion_field(f, "channels", o.channels, 1, 4096);
  fusion_field(f, "embed_dim", o.embed_dim, 1, 4096);
  fusion_field(f, "question_dim", o.question_dim, 1, 4096);
  fusion_field(f, "kernel", o.kernel, 1, 3);
  if (o.kernel == 2)
    bad("fusion.kernel must be 1 or 3");
  fusion_flag(f, "coords", o.coords);
  fusion_field(f, "relations", o.relations, 0, 4);
  fusion_field(f, "relation_heads", o.relation_heads, 1, 64);
  fusion_field(f, "relation_pool", o.relation_pool, 1, 4);
  fusion_field(f, "locate_glimpses", o.locate_glimpses, 0, 8);
  fusion_field(f, "count_maps", o.count_maps, 0, 16);
  fusion_field(f, "locate_compare", o.locate_compare, 0, 256);
  fusion_flag(f, "locate_per_glimpse", o.locate_per_glimpse);
  fusion_flag(f, "locate_words", o.locate_words);
  fusion_flag(f, "locate_contents", o.locate_contents);
  fusion_flag(f, "locate_word_order", o.locate_word_order);
  if (const auto conflict = locate_conflict(o); !conflict.empty())
    bad(conflict);
  fusion_flag(f, "tie_plurals", o.tie_plurals);
  if (o.relations > 0 && o.channels % o.relation_heads != 0)
    bad("fusion.relation_heads (" + std::to_string(o.relation_heads) +
        ") must divide fusion.channels (" + std::to_string(o.channels) + ")");
  return o;
}
}  // namespace

bool ModelConfig::has_task(const std::string& task) const {
  return std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

Result<ModelConfig> ModelConfig::from_json(const std::string& text) {
  return catch_as_result([&] {
    json j;
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      bad(std::string("not valid JSON (") + e.what() + ")");
    }
    ModelConfig c;
    c.format_version = get<int>(j, "format_version", "config");
    if (c.format_version > kModelFormatVersion)
      throw Error(ErrorCode::kUnsupported,
                  "model format " + std::to_string(c.format_version) +
                      " was written by a newer glimpse; this build reads up to " +
                      std::to_string(kModelFormatVersion) + ": upgrade glimpse");
    if (c.format_version < 1)
      bad("format_version must be 1 or more");
    const json& enc = j.contains("encoder") ? j["encoder"] : json();
    const std::string encoder_name = get<std::string>(enc, "kind", "encoder");
    if (auto kind = parse_encoder_kind(encoder_name); !kind)
      bad(kind.error().message);
    else
      c.encoder = kind.value();
    if (c.encoder == EncoderKind::kSmallCnn) {
      c.small_cnn.width = get<int64_t>(enc, "width", "encoder");
      c.small_cnn.depth = get<int>(enc, "depth", "encoder");
      c.small_cnn.grid_h = get<int64_t>(enc, "grid_h", "encoder");
      c.small_cnn.grid_w = get<int64_t>(enc, "grid_w", "encoder");
      if (enc.contains("coords")) {
        if (!enc["coords"].is_boolean())
          bad("encoder.coords must be true or false");
        c.small_cnn.coords = enc["coords"].get<bool>();
      }
      if (enc.contains("context")) {  // models before it have none
        const auto context = core::json_integer<int>(enc["context"]);
        if (!context || *context < 0 || *context > 4)
          bad("encoder.context must be an integer 0..4");
        c.small_cnn.context = *context;
      }
    } else {
      c.mobilenet_trainable_from = get<int>(enc, "trainable_from", "encoder");
      if (enc.contains("output_stride")) {  // models before it have stride 32
        c.mobilenet_output_stride = get<int64_t>(enc, "output_stride", "encoder");
        if (c.mobilenet_output_stride != 32 && c.mobilenet_output_stride != 16)
          bad("encoder.output_stride must be 32 or 16");
      }
    }
    const json& dec = j.contains("decoder") ? j["decoder"] : json();
    const std::string decoder_name = get<std::string>(dec, "kind", "decoder");
    if (auto kind = parse_decoder_kind(decoder_name); !kind)
      bad(kind.error().message);
    else
      c.decoder = kind.value();
    if (c.decoder == DecoderKind::kLstm) {
      c.lstm.embed_dim = get<int64_t>(dec, "embed_dim", "decoder");
      c.lstm.hidden_dim = get<int64_t>(dec, "hidden_dim", "decoder");
      c.lstm.attention_dim = get<int64_t>(dec, "attention_dim", "decoder");
      c.lstm.attention = get<std::string>(dec, "attention", "decoder");
      c.lstm.dropout = get<double>(dec, "dropout", "decoder");
    } else {
      c.transformer.d_model = get<int64_t>(dec, "d_model", "decoder");
      c.transformer.layers = get<int64_t>(dec, "layers", "decoder");
      c.transformer.heads = get<int>(dec, "heads", "decoder");
      c.transformer.ffn_dim = get<int64_t>(dec, "ffn_dim", "decoder");
      c.transformer.dropout = get<double>(dec, "dropout", "decoder");
      c.transformer.max_len = get<int64_t>(dec, "max_len", "decoder");
      c.transformer.cross_attention = get<std::string>(dec, "attention", "decoder");
      if (dec.contains("memory_norm")) {  // models before it have none
        if (!dec["memory_norm"].is_boolean())
          bad("decoder.memory_norm must be true or false");
        c.transformer.memory_norm = dec["memory_norm"].get<bool>();
      }
    }
    if (j.contains("fusion"))
      c.fusion = fusion_from_json(j["fusion"]);
    if (j.contains("blind")) {
      if (!j["blind"].is_boolean())
        bad("blind must be true or false");
      c.blind = j["blind"].get<bool>();
    }
    const json& img = j.contains("image") ? j["image"] : json();
    c.image.width = get<int>(img, "width", "image");
    c.image.height = get<int>(img, "height", "image");
    if (c.image.width < 16 || c.image.height < 16 || c.image.width > 4096 || c.image.height > 4096)
      bad("image size must be 16..4096");
    c.image.mean = get<std::array<float, 3>>(img, "mean", "image");
    c.image.stddev = get<std::array<float, 3>>(img, "std", "image");
    for (float s : c.image.stddev)
      if (!(s > 0))
        bad("image.std must be positive");
    c.image.resize = vision::parse_resize_policy(get<std::string>(img, "resize", "image")).take();
    c.vocabulary = get<std::vector<std::string>>(j, "vocabulary", "config");
    if (j.contains("tasks"))
      c.tasks = get<std::vector<std::string>>(j, "tasks", "config");
    if (j.contains("notice"))
      c.notice = get<std::string>(j, "notice", "config");
    if (j.contains("training"))
      c.training = get<std::map<std::string, std::string>>(j, "training", "config");
    if (j.contains("metrics"))
      c.metrics = get<std::map<std::string, double>>(j, "metrics", "config");
    return c;
  });
}

}  // namespace glimpse::fusion
