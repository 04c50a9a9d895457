#include "glimpse/fusion/service.h"

#include <algorithm>
#include <chrono>
#include <list>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "glimpse/fusion/caption_model.h"

namespace glimpse::fusion {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Least-recently-used features by (model, image key), bounded by bytes.
class FeatureCache {
 public:
  explicit FeatureCache(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

  std::optional<torch::Tensor> get(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) {
      ++stats_.misses;
      return std::nullopt;
    }
    ++stats_.hits;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }

  void put(const std::string& key, const torch::Tensor& features) {  // [N, C]
    const auto bytes = static_cast<std::uint64_t>(features.numel() * features.element_size());
    if (bytes > max_bytes_ || index_.count(key) != 0)
      return;
    order_.emplace_front(key, features);
    index_[key] = order_.begin();
    stats_.bytes += bytes;
    while (stats_.bytes > max_bytes_) {
      const auto& [k, t] = order_.back();
      stats_.bytes -= static_cast<std::uint64_t>(t.numel() * t.element_size());
      index_.erase(k);
      order_.pop_back();
    }
  }

  CacheStats stats() const {
    CacheStats s = stats_;
    s.entries = index_.size();
    return s;
  }

 private:
  using Entry = std::pair<std::string, torch::Tensor>;
  std::uint64_t max_bytes_;
  std::list<Entry> order_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  CacheStats stats_;
};

}  // namespace

ServiceResult to_service_result(const Prediction& p) {
  ServiceResult s;
  s.text = p.text;
  s.words = p.words;
  s.log_probs = p.log_probs;
  s.finished = p.finished;
  const auto a = p.attention.to(torch::kFloat).contiguous();  // [T, L, H, gh, gw]
  s.layers = static_cast<int>(a.size(1));
  s.heads = static_cast<int>(a.size(2));
  s.grid_h = static_cast<int>(a.size(3));
  s.grid_w = static_cast<int>(a.size(4));
  // Only the emitted words' maps (the final <eos> step, if any, is not a word).
  const int64_t per_word = a.numel() / std::max<int64_t>(1, a.size(0));
  const int64_t words = std::min<int64_t>(a.size(0), static_cast<int64_t>(p.words.size()));
  s.attention.assign(a.data_ptr<float>(), a.data_ptr<float>() + words * per_word);
  return s;
}

struct Service::Impl {
  std::map<std::string, std::shared_ptr<CaptionModel>> models;
  std::vector<ServiceModelInfo> infos;
  mutable std::mutex mutex;
  FeatureCache cache;
  explicit Impl(std::uint64_t cache_bytes) : cache(cache_bytes) {}

  std::vector<Result<ServiceResult>> run(const std::vector<ServiceRequest>& requests);
};

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Service::~Service() = default;

Result<std::unique_ptr<Service>> Service::open(
    const std::vector<std::pair<std::string, std::string>>& models, const ServiceOptions& o) {
  if (models.empty())
    return ErrorInfo{ErrorCode::kInvalidArgument, "no model to serve"};
  auto impl = std::make_unique<Impl>(o.cache_bytes);
  for (const auto& [name, path] : models) {
    if (impl->models.count(name) != 0)
      return ErrorInfo{ErrorCode::kInvalidArgument, "model name '" + name + "' is given twice"};
    auto m = CaptionModel::load(path);
    if (!m)
      return ErrorInfo{m.error().code, "model '" + name + "': " + m.error().message};
    auto model = m.value();
    const auto& c = model->config();
    ServiceModelInfo info;
    info.name = name;
    info.tasks = c.tasks;
    info.encoder = to_string(c.encoder);
    info.decoder = to_string(c.decoder);
    info.attention = c.attention();
    info.image_width = static_cast<int>(c.image.width);
    info.image_height = static_cast<int>(c.image.height);
    info.metrics = c.metrics;
    // The attention's shape (layers, heads, grid) as a one-word caption of a grey image shows it.
    GenerateOptions probe;
    probe.max_len = 1;
    auto p = model->caption(
        cv::Mat(info.image_height, info.image_width, CV_8UC3, cv::Scalar(128, 128, 128)), probe);
    if (!p)
      return ErrorInfo{p.error().code, "model '" + name + "': " + p.error().message};
    info.layers = static_cast<int>(p.value().attention.size(1));
    info.heads = static_cast<int>(p.value().attention.size(2));
    info.grid_h = static_cast<int>(p.value().grid_h);
    info.grid_w = static_cast<int>(p.value().grid_w);
    impl->models[name] = model;
    impl->infos.push_back(info);
  }
  return std::unique_ptr<Service>(new Service(std::move(impl)));
}

std::vector<ServiceModelInfo> Service::models() const {
  return impl_->infos;
}

bool Service::has_model(const std::string& name) const {
  return impl_->models.count(name) != 0;
}

CacheStats Service::cache_stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->cache.stats();
}

std::vector<Result<ServiceResult>> Service::run(const std::vector<ServiceRequest>& requests) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->run(requests);
}

std::vector<Result<ServiceResult>> Service::Impl::run(const std::vector<ServiceRequest>& requests) {
  std::vector<Result<ServiceResult>> out(
      requests.size(), Result<ServiceResult>(ErrorInfo{ErrorCode::kInternal, "not run"}));
  // Groups that decode together: same model, beam and length.
  std::map<std::tuple<std::string, int, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    auto it = models.find(r.model);
    if (it == models.end()) {
      out[i] = ErrorInfo{ErrorCode::kNotFound, "no model named '" + r.model + "'"};
      continue;
    }
    if (!it->second->config().has_task(r.question ? "vqa" : "caption")) {
      out[i] = ErrorInfo{ErrorCode::kInvalidArgument,
                         "model '" + r.model + "' was not trained to " +
                             (r.question ? "answer questions" : "caption images") +
                             "; pick another model (the 'tasks' of each are in /api/v1/models)"};
      continue;
    }
    if (r.image.empty() || r.image.type() != CV_8UC3) {
      out[i] = ErrorInfo{ErrorCode::kInvalidArgument, "the image is empty or not 8-bit RGB"};
      continue;
    }
    groups[{r.model, r.beam, r.max_len}].push_back(i);
  }
  for (const auto& [key, members] : groups) {
    const std::string& name = std::get<0>(key);  // a lambda cannot capture a structured binding
    const auto& model = *models.at(name);
    const auto& info =
        *std::find_if(infos.begin(), infos.end(), [&](const auto& i) { return i.name == name; });
    GenerateOptions go;
    go.beam = std::get<1>(key);
    go.max_len = std::get<2>(key);
    // Prefixes first: a bad question fails only its own request.
    std::vector<size_t> ok;
    std::vector<std::vector<int64_t>> prefixes;
    for (size_t i : members) {
      const auto& r = requests[i];
      if (r.question) {
        auto p = model.question_prefix(*r.question, go.max_question_tokens);
        if (!p) {
          out[i] = p.error();
          continue;
        }
        prefixes.push_back(std::move(p.value()));
      } else {
        prefixes.push_back(model.caption_prefix());
      }
      ok.push_back(i);
    }
    if (ok.empty())
      continue;
    // Features: from the cache, else encoded together (each distinct image once).
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> rows(ok.size());
    std::vector<int64_t> source(ok.size(), -1);  // row of to_encode; -1: from the cache
    std::vector<cv::Mat> to_encode;
    std::map<std::string, int64_t> pending;  // cache key -> row of to_encode
    for (size_t k = 0; k < ok.size(); ++k) {
      const auto& r = requests[ok[k]];
      const std::string cache_key = r.model + "\n" + r.image_key;
      if (!r.image_key.empty()) {
        if (auto f = cache.get(cache_key)) {
          rows[k] = *f;
          continue;
        }
        const auto [at, added] = pending.emplace(cache_key, to_encode.size());
        if (!added) {
          source[k] = at->second;
          continue;
        }
      }
      source[k] = static_cast<int64_t>(to_encode.size());
      to_encode.push_back(r.image);
    }
    if (!to_encode.empty()) {
      auto e = model.encode(to_encode);
      if (!e) {
        for (size_t i : ok)
          out[i] = e.error();
        continue;
      }
      const auto& features = e.value().features;  // [U, N, C]
      for (const auto& [cache_key, u] : pending)
        cache.put(cache_key, features[u].clone());
      for (size_t k = 0; k < ok.size(); ++k)
        if (source[k] >= 0)
          rows[k] = features[source[k]];  // [N, C]
    }
    const double encode_ms = ms_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    EncodedImages batch;
    {
      torch::InferenceMode guard;
      batch.features = torch::stack(rows);  // [B, N, C]
    }
    batch.grid_h = info.grid_h;  // the model's grid, whether features were cached or not
    batch.grid_w = info.grid_w;
    auto preds = model.generate(batch, prefixes, go);
    const double decode_ms = ms_since(t1);
    if (!preds) {
      for (size_t i : ok)
        out[i] = preds.error();
      continue;
    }
    for (size_t k = 0; k < ok.size(); ++k) {
      auto& p = preds.value()[k];
      const auto& r = requests[ok[k]];
      ServiceResult s = to_service_result(p);
      if (r.question)
        s.unknown_words = model.unknown_words(*r.question);
      s.cache_hit = source[k] < 0;
      s.encode_ms = s.cache_hit ? 0.0 : encode_ms;
      s.decode_ms = decode_ms;
      out[ok[k]] = std::move(s);
    }
  }
  return out;
}

}  // namespace glimpse::fusion
