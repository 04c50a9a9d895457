#include "glimpse/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>

#include "glimpse/core/file_util.h"

namespace glimpse::train {

namespace fs = std::filesystem;
using nlohmann::json;

void save_checkpoint(const std::string& dir, const fusion::CaptionModel& model,
                     torch::optim::Optimizer& opt, const Position& p, double elapsed,
                     const std::function<void(const std::string&)>& save_more) {
  const std::string name = "step-" + std::to_string(p.global_step);
  const fs::path step_dir = fs::path(dir) / name;
  fs::create_directories(step_dir);
  model.save((step_dir / "model.safetensors").string()).throw_if_error();
  if (save_more)
    save_more(step_dir.string());
  torch::serialize::OutputArchive archive;
  opt.save(archive);
  archive.save_to((step_dir / "optimizer.pt").string());
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    torch::save(gen.get_state(), (step_dir / "rng.pt").string());
  }
  core::write_file_atomic((step_dir / "state.json").string(),
                          json{{"epoch", p.epoch},
                               {"step_in_epoch", p.step_in_epoch},
                               {"global_step", p.global_step},
                               {"best", p.best},
                               {"best_epoch", p.best_epoch},
                               {"best_report",
                                {{"images", p.best_report.images},
                                 {"questions", p.best_report.questions},
                                 {"bleu4", p.best_report.bleu4()},
                                 {"cider_d", p.best_report.cider_d},
                                 {"vqa_accuracy", p.best_report.vqa_accuracy}}},
                               {"run", p.run},
                               {"seconds", p.seconds + elapsed}}
                              .dump(1));
  const std::string latest = (fs::path(dir) / "LATEST").string();
  std::string previous;
  if (fs::exists(latest))
    previous = core::read_file(latest);
  core::write_file_atomic(latest, name);  // the checkpoint becomes current only now
  if (!previous.empty() && previous != name) {
    std::error_code ec;
    fs::remove_all(fs::path(dir) / previous, ec);
  }
}

std::string latest_checkpoint(const std::string& dir) {
  const fs::path latest = fs::path(dir) / "LATEST";
  if (!fs::exists(latest))
    return "";
  return (fs::path(dir) / core::read_file(latest)).string();
}

Position read_position(const std::string& checkpoint) {
  const json st = json::parse(core::read_file(checkpoint + "/state.json"));
  Position p;
  p.epoch = st["epoch"];
  p.step_in_epoch = st["step_in_epoch"];
  p.global_step = st["global_step"];
  p.best = st["best"];
  p.best_epoch = st["best_epoch"];
  p.seconds = st.value("seconds", 0.0);
  const json& b = st["best_report"];
  p.best_report.images = b["images"];
  p.best_report.questions = b["questions"];
  p.best_report.bleu[3] = b["bleu4"];
  p.best_report.cider_d = b["cider_d"];
  p.best_report.vqa_accuracy = b["vqa_accuracy"];
  p.run = st["run"];
  return p;
}

void check_same_run(const json& was, const json& now, const json& defaults,
                    const std::string& dir) {
  for (auto it = now.begin(); it != now.end(); ++it) {
    if (!was.contains(it.key()) && !defaults.contains(it.key()))
      continue;  // not recorded by the version that wrote the checkpoint
    const json before = was.contains(it.key()) ? was[it.key()] : defaults[it.key()];
    if (before != it.value())
      throw Error(ErrorCode::kInvalidArgument, "--resume: the checkpoint in '" + dir +
                                                   "' was made with " + it.key() + " = " +
                                                   before.dump() + ", not " + it.value().dump() +
                                                   "; resume with the same options");
  }
}

void restore_optimizer_and_rng(const std::string& checkpoint, torch::optim::Optimizer& opt) {
  torch::serialize::InputArchive archive;
  archive.load_from(checkpoint + "/optimizer.pt");
  opt.load(archive);
  torch::Tensor state;
  torch::load(state, checkpoint + "/rng.pt");
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace glimpse::train
