#include "glimpse/train/parallel_step.h"

#include "glimpse/core/parallel.h"
#include "glimpse/core/threads.h"
#include "glimpse/train/step_plan.h"
#include "glimpse/vision/preprocess.h"

namespace glimpse::train {

// One part of a step: its images are the step's [first, first + images).
struct ParallelStep::Part {
  int64_t first = 0, images = 0;
  std::vector<text::Sequence> seqs;
  std::vector<int64_t> image_index;  // per sequence, within the part
  text::SequenceBatch batch;
  double words = 0;  // target words
};

ParallelStep::ParallelStep(fusion::CaptionModel& model,
                           std::vector<std::unique_ptr<Objective>>& objectives,
                           std::vector<torch::Tensor> net_params, int parts)
    : model_(model),
      objectives_(objectives),
      net_params_(std::move(net_params)),
      parts_(std::max(1, parts)) {}

// The step's images cut into parts, their sequences (mirrored where the view is), and each
// image's features (from a view) or decoded image; the objectives learn which image is where.
std::vector<ParallelStep::Part> ParallelStep::assemble(const StepSource& source,
                                                       const std::vector<size_t>& images, int epoch,
                                                       std::vector<torch::Tensor>& features,
                                                       std::vector<cv::Mat>& decoded) {
  std::vector<size_t> tokens;
  for (size_t i : images)
    tokens.push_back(source.images[i].tokens);
  const size_t parts = std::min(static_cast<size_t>(parts_), images.size());
  const auto part_of = step_parts(tokens, parts);
  std::vector<Part> part(parts);
  for (auto& objective : objectives_)
    objective->begin_step(parts);
  for (size_t j = 0; j < images.size(); ++j) {
    const size_t i = images[j];
    Part& s = part[part_of[j]];
    if (s.images == 0)
      s.first = static_cast<int64_t>(j);
    bool mirrored = false;
    if (!source.views.empty()) {
      const auto& views = source.views;
      const size_t v = mix(mix(source.seed, static_cast<uint64_t>(epoch)), i) % views.size();
      features.push_back(views[v].cache->get(views[v].rows[i]));
      mirrored = views[v].cache->info().mirrored;
    } else {
      decoded.push_back(source.images[i].image);
    }
    for (auto& objective : objectives_)
      objective->add_image(part_of[j], i, j, static_cast<int64_t>(s.seqs.size()));
    for (const auto& seq : mirrored ? source.images[i].mirrored : source.images[i].sequences) {
      s.seqs.push_back(seq);
      s.image_index.push_back(s.images);
    }
    ++s.images;
  }
  return part;
}

double ParallelStep::run(const StepSource& source, const std::vector<size_t>& images, int epoch,
                         int64_t global_step) {
  auto& net = model_.net();
  std::vector<torch::Tensor> cached;
  std::vector<cv::Mat> decoded;
  auto part = assemble(source, images, epoch, cached, decoded);
  const size_t parts = part.size();
  double words = 0, sequences = 0;
  for (auto& s : part) {
    s.batch = text::collate(s.seqs);
    s.words = s.batch.loss_mask.sum().item<double>();
    words += s.words;
    sequences += static_cast<double>(s.seqs.size());
  }
  net.train();
  text::AttentionContext grid;
  const torch::Tensor features = encode(source, cached, decoded, grid);  // [I, N, C]
  // The decoder runs on each part at once, from its images' features cut off the encoder's
  // graph; the encoder's gradient is then taken once, from theirs.
  const bool encoder_learns = features.requires_grad();
  std::vector<std::vector<torch::Tensor>> grads(parts);
  std::vector<double> losses(parts, 0.0);
  core::run_parallel(static_cast<int>(parts), [&](int p) {
    Part& s = part[static_cast<size_t>(p)];
    // Dropout draws from (seed, step, part): the same masks whichever thread runs first.
    core::ThreadGenerator rng(
        mix(mix(source.seed, static_cast<uint64_t>(global_step)), static_cast<uint64_t>(p)));
    auto f = features.narrow(0, s.first, s.images);
    if (encoder_learns)
      f = f.detach().requires_grad_(true);
    const auto out = net.decode(f, torch::tensor(s.image_index, torch::kLong), grid, s.batch.input);
    const PartOutput po{out,      s.batch, static_cast<size_t>(p),
                        s.words,  words,   static_cast<double>(s.seqs.size()),
                        sequences};
    torch::Tensor loss;
    for (const auto& objective : objectives_) {
      const auto term = objective->part_loss(po);
      if (term.defined())
        loss = loss.defined() ? loss + term : term;
    }
    if (!loss.defined())
      loss = out.logits.sum() * 0.0;  // no objective reads this part
    auto inputs = net_params_;
    if (encoder_learns)
      inputs.push_back(f);
    grads[static_cast<size_t>(p)] =
        torch::autograd::grad({loss}, inputs, {}, false, false, /*allow_unused=*/true);
    losses[static_cast<size_t>(p)] = loss.item<double>();
  });
  double step_loss = 0;
  for (double l : losses)
    step_loss += l;
  // The encoder (and the objectives' own tensors) from the parts' feature gradients and the
  // terms on the whole step.
  std::vector<torch::Tensor> roots, root_grads;
  if (encoder_learns) {
    std::vector<torch::Tensor> pieces;
    for (size_t p = 0; p < parts; ++p) {
      const auto& g = grads[p].back();
      pieces.push_back(
          g.defined() ? g : torch::zeros_like(features.narrow(0, part[p].first, part[p].images)));
    }
    roots.push_back(features);
    root_grads.push_back(torch::cat(pieces));
  }
  for (auto& objective : objectives_) {
    const auto term = objective->step_loss(features);
    if (!term.defined())
      continue;
    step_loss += term.item<double>();
    roots.push_back(term);
    root_grads.push_back(torch::ones_like(term));
  }
  if (!roots.empty())
    torch::autograd::backward(roots, root_grads);
  add_part_gradients(grads);
  return step_loss;
}

torch::Tensor ParallelStep::encode(const StepSource& source, std::vector<torch::Tensor>& cached,
                                   const std::vector<cv::Mat>& decoded,
                                   text::AttentionContext& grid) {
  if (!source.views.empty()) {
    grid.grid_h = source.views[0].cache->info().grid_h;
    grid.grid_w = source.views[0].cache->info().grid_w;
    return torch::stack(cached);
  }
  const auto g = model_.net().encode(vision::to_batch(decoded, model_.config().image));
  grid.grid_h = g.grid_h;
  grid.grid_w = g.grid_w;
  return g.features;
}

// The decoder's gradient: the parts' summed in their order.
void ParallelStep::add_part_gradients(const std::vector<std::vector<torch::Tensor>>& grads) {
  for (size_t j = 0; j < net_params_.size(); ++j) {
    torch::Tensor sum;
    for (const auto& g : grads)
      if (g[j].defined())
        sum = sum.defined() ? sum + g[j] : g[j];
    if (!sum.defined())
      continue;
    auto& grad = net_params_[j].mutable_grad();
    if (grad.defined())
      grad.add_(sum);
    else
      grad = sum.clone();  // not a view: zero_grad detaches it in place
  }
}

}  // namespace glimpse::train
