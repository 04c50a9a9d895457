// glimpse compare: train every attention variant on the same data with the same budget, then
// score each on the same split; prints a Markdown table.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common.h"
#include "glimpse/fusion/attention.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/text/vocabulary.h"
#include "glimpse/train/trainer.h"
#include "glimpse/vision/small_cnn.h"
#include "model_flags.h"

namespace glimpse::app {

namespace {

struct CompareOptions {
  train::TrainOptions train;
  fusion::ModelConfig model;
  std::string variants =
      "additive,additive+gate,dot,scaled-dot,general,concat,multihead:4,additive+local:2,"
      "general+local:2,multihead:4+local:2";
  std::string split = "test";
  int eval_images = 300;
  std::string out_dir = "compare";
  std::string table;
  ModelShape shape{128, 16, "", -1};
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty())
      out.push_back(item);
  return out;
}

}  // namespace

void add_compare_command(CLI::App& app, CommonOptions& /*common*/, Action& action) {
  auto o = std::make_shared<CompareOptions>();
  auto& to = o->train;
  auto& mo = o->model;
  to.epochs = 2;
  to.batch_size = 128;
  to.lr = 2e-3;
  to.warmup_steps = 100;
  to.doubly_stochastic = 0;
  to.attention_supervision = 0;
  to.eval_images = 100;
  mo.small_cnn = {32, 3, 16, 16, true};
  mo.lstm.embed_dim = 128;
  mo.lstm.hidden_dim = 0;  // 0: the encoder's channel count, so dot-product scores are possible
  mo.lstm.attention_dim = 64;
  mo.lstm.dropout = 0.1;
  CLI::App* cmd = app.add_subcommand(
      "compare",
      "Train each attention variant on the same data with the same budget and tabulate VQA "
      "accuracy, BLEU-4, CIDEr-D, attention correctness and ms per training step");
  cmd->add_option("--data", to.train_dir, "A folder in the layout glimpse world writes")
      ->required();
  cmd->add_option("--variants", o->variants, "Comma-separated attention variants");
  cmd->add_option("--train-images", to.max_train_images, "Train on the first N images (0 = all)")
      ->check(CLI::Range(0, 10'000'000));
  cmd->add_option("--epochs", to.epochs, "Epochs for every variant")->check(CLI::Range(1, 1000));
  cmd->add_option("--batch-size", to.batch_size, "Sequences per step")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--lr", to.lr, "Peak learning rate")->check(CLI::Range(1e-7, 1.0));
  add_model_shape_flags(*cmd, mo, o->shape);
  cmd->add_option("--attention-supervision", to.attention_supervision,
                  "Attention supervision weight for every variant (0 = off)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--split", o->split, "Split every variant is scored on");
  cmd->add_option("--eval-images", o->eval_images, "Images scored per variant (0 = all)")
      ->check(CLI::Range(0, 10'000'000));
  cmd->add_option("--seed", to.seed, "Seed shared by every variant");
  cmd->add_option("--out-dir", o->out_dir, "Where each variant's model and log go");
  cmd->add_option("--table", o->table, "Also write the Markdown table to this file");
  cmd->callback([o, &action] {
    action = [o]() -> int {
      const auto variants = split_list(o->variants);
      if (variants.empty())
        return report_error("--variants is empty: name at least one attention variant");
      std::vector<fusion::ModelConfig> configs;
      for (const auto& v : variants) {
        if (auto spec = fusion::parse_attention_spec(v); !spec)
          return report_error(spec.error().message);
        auto m = o->model;
        apply_model_shape(o->shape, m);
        if (m.decoder == fusion::DecoderKind::kLstm)
          m.lstm.attention = v;
        else
          m.transformer.cross_attention = v;
        // Build each variant once now, so that one that cannot be built stops the run before
        // hours of training the others.
        try {
          auto probe = m;
          probe.vocabulary.assign(std::begin(text::kSpecialTokens), std::end(text::kSpecialTokens));
          probe.vocabulary.push_back("a");
          fusion::CaptionNet net(probe);
        } catch (const std::exception& e) {
          return report_error(v + ": " + e.what());
        }
        configs.push_back(m);
      }
      auto test = data::load_world_folder(o->train.train_dir, o->split);
      if (!test)
        return report_error(test.error().message);
      std::error_code ec;
      std::filesystem::create_directories(o->out_dir, ec);
      if (ec)
        return report_error("cannot create '" + o->out_dir + "': " + ec.message());
      const std::string header =
          "| variant | VQA accuracy | BLEU-4 | CIDEr-D | attention correctness (uniform) | ms "
          "per step | train steps |\n|---|---|---|---|---|---|---|\n";
      std::string table = header;
      std::cout << header << std::flush;
      int status = 0;
      for (size_t i = 0; i < variants.size(); ++i) {
        const auto& v = variants[i];
        auto t = o->train;
        const auto& m = configs[i];
        std::string name = v;
        for (char& c : name)
          if (c == ':' || c == '+')
            c = '_';
        t.out = o->out_dir + "/" + name + ".safetensors";
        std::filesystem::remove_all(t.out + ".ckpt", ec);
        std::filesystem::remove(t.out + ".log.jsonl", ec);
        auto r = train::train(t, m);
        if (!r) {
          status = report_error(v + ": " + r.error().message);
          continue;
        }
        auto model = fusion::CaptionModel::load(t.out);
        if (!model) {
          status = report_error(v + ": " + model.error().message);
          continue;
        }
        train::EvalOptions eo;
        eo.attention = true;
        eo.max_images = o->eval_images;
        eo.workers = torch::get_num_threads();
        auto e = train::evaluate(*model.value(), test.value(), eo);
        if (!e) {
          status = report_error(v + ": " + e.error().message);
          continue;
        }
        const auto& ev = e.value();
        const std::string row = fmt::format(
            "| {} | {:.2f}% | {:.4f} | {:.4f} | {:.4f} ({:.4f}) | {:.0f} | {} |\n", v,
            100 * ev.vqa_accuracy, ev.bleu4(), ev.cider_d, ev.caption_attention, ev.caption_uniform,
            1000 * r.value().step_seconds / std::max<int64_t>(1, r.value().steps_this_run),
            r.value().steps);
        table += row;
        std::cout << row << std::flush;
      }
      if (!o->table.empty()) {
        std::ofstream f(o->table);
        f << table;
        if (!f)
          return report_error("cannot write '" + o->table + "'");
      }
      return status;
    };
  });
}

}  // namespace glimpse::app
