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
  std::string fusions = "none";
  std::string split = "test";
  int eval_images = 300;
  std::string out_dir = "compare";
  std::string table;
  ModelShape shape{128, 16, "", -1};
};

// "none", "film", "film:BLOCKS", "film:BLOCKS:KERNEL", "film:BLOCKS:KERNEL:RELATIONS",
// "film:BLOCKS:KERNEL:RELATIONS:COUNT_MAPS", "film:BLOCKS:KERNEL:RELATIONS:COUNT_MAPS:PLURALS"
// (PLURALS 1: tie_plurals), "…:PLURALS:GLIMPSES" (a locate read-out) or "…:GLIMPSES:MODE" (how
// the glimpses are modulated: 0 one modulation, 1 each its own from the question vector,
// locate_per_glimpse, 2 each its own from its own words, locate_words, 3 from its own words with
// a learnt slope over their order, locate_word_order too) or "…:MODE:COMPARE" (the
// hidden units that read the places with the question, locate_compare) or "…:COMPARE:CONTENTS"
// (1: each glimpse's mean features written too, locate_contents) as the model's fusion.
Result<fusion::FusionOptions> parse_fusion(const std::string& spec) {
  std::vector<std::string> parts;
  std::stringstream in(spec);
  for (std::string part; std::getline(in, part, ':');)
    parts.push_back(part);
  fusion::FusionOptions o;
  auto kind = fusion::parse_fusion_kind(parts.empty() ? "" : parts[0]);
  if (!kind)
    return kind.error();
  o.kind = kind.value();
  const size_t most = o.kind == fusion::FusionKind::kNone ? 1 : 10;
  int64_t plurals = 0, mode = 0, contents = 0;
  auto number = [&](size_t i, int64_t& out, std::initializer_list<int64_t> allowed) {
    if (i >= parts.size())
      return true;
    for (int64_t v : allowed)
      if (parts[i] == std::to_string(v))
        return out = v, true;
    return false;
  };
  if (parts.size() > most || !number(1, o.blocks, {1, 2, 3, 4, 5, 6, 7, 8}) ||
      !number(2, o.kernel, {1, 3}) || !number(3, o.relations, {0, 1, 2, 3, 4}) ||
      !number(4, o.count_maps, {0, 1, 2, 4, 8, 16}) || !number(5, plurals, {0, 1}) ||
      !number(6, o.locate_glimpses, {0, 1, 2, 3, 4, 5, 6, 7, 8}) ||
      !number(7, mode, {0, 1, 2, 3}) || !number(8, o.locate_compare, {0, 16, 32, 64, 128, 256}) ||
      !number(9, contents, {0, 1}))
    return ErrorInfo{ErrorCode::kInvalidArgument,
                     "--fusions: '" + spec +
                         "' is not a fusion (none, film, film:BLOCKS with 1..8 blocks, or "
                         "film:BLOCKS:KERNEL with kernel 1 or 3, film:BLOCKS:KERNEL:RELATIONS "
                         "with 0..4 relational blocks, film:BLOCKS:KERNEL:RELATIONS:COUNT_MAPS "
                         "with 0, 1, 2, 4, 8 or 16 density maps, :PLURALS 0 or 1, :GLIMPSES 0..8 "
                         "of a locate read-out, :MODE 0, 1 (per glimpse), 2 (words) or 3 (words in "
                         "order), :COMPARE 0, "
                         "16, 32, 64, 128 or 256 hidden units and :CONTENTS 0 or 1)"};
  o.tie_plurals = plurals == 1;
  o.locate_per_glimpse = mode == 1;
  o.locate_words = mode >= 2;
  o.locate_word_order = mode == 3;
  o.locate_contents = contents == 1;
  if (const auto conflict = fusion::locate_conflict(o); !conflict.empty())
    return ErrorInfo{ErrorCode::kInvalidArgument, "--fusions: '" + spec + "': " + conflict};
  return o;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty())
      out.push_back(item);
  return out;
}

// One row of the table: an attention variant with a question fusion.
struct Entry {
  std::string variant, fusion, file;
  fusion::ModelConfig model;
  std::string label() const { return fusion == "none" ? variant : variant + " with " + fusion; }
};

// Every variant with every fusion, each built once now, so that one that cannot be built stops
// the run before hours of training the others.
Result<std::vector<Entry>> entries(const CompareOptions& o) {
  const auto variants = split_list(o.variants), fusions = split_list(o.fusions);
  if (variants.empty())
    return ErrorInfo{ErrorCode::kInvalidArgument,
                     "--variants is empty: name at least one attention variant"};
  if (fusions.empty())
    return ErrorInfo{ErrorCode::kInvalidArgument, "--fusions is empty: name none or film"};
  std::vector<Entry> out;
  for (const auto& f : fusions) {
    auto fo = parse_fusion(f);
    if (!fo)
      return fo.error();
    for (const auto& v : variants) {
      if (auto spec = fusion::parse_attention_spec(v); !spec)
        return spec.error();
      Entry e{v, f, "", o.model};
      apply_model_shape(o.shape, e.model);
      (e.model.decoder == fusion::DecoderKind::kLstm ? e.model.lstm.attention
                                                     : e.model.transformer.cross_attention) = v;
      e.model.fusion = fo.value();
      // The decoder sees as many channels with fusion as without: only the fusion differs.
      e.model.fusion.channels = vision::SmallCnn(e.model.small_cnn).channels();
      // Relational blocks: the most heads of 4, 2, 1 that divide those channels.
      for (int64_t heads : {4, 2, 1})
        if (e.model.fusion.channels % heads == 0) {
          e.model.fusion.relation_heads = heads;
          break;
        }
      try {
        auto probe = e.model;
        probe.vocabulary.assign(std::begin(text::kSpecialTokens), std::end(text::kSpecialTokens));
        probe.vocabulary.push_back("a");
        fusion::CaptionNet net(probe);
      } catch (const std::exception& ex) {
        return ErrorInfo{ErrorCode::kInvalidArgument, e.label() + ": " + ex.what()};
      }
      e.file = o.out_dir + "/" + v + (f == "none" ? "" : "-" + f) + ".safetensors";
      for (char& c : e.file)
        if (c == ':' || c == '+')
          c = '_';
      out.push_back(std::move(e));
    }
  }
  return out;
}

// Trains and scores one entry: its table row, or what went wrong.
Result<std::string> run_entry(const CompareOptions& o, const Entry& e, const data::Dataset& test) {
  auto t = o.train;
  t.out = e.file;
  std::error_code ec;
  std::filesystem::remove_all(t.out + ".ckpt", ec);
  std::filesystem::remove(t.out + ".log.jsonl", ec);
  auto r = train::train(t, e.model);
  if (!r)
    return r.error();
  auto model = fusion::CaptionModel::load(t.out);
  if (!model)
    return model.error();
  train::EvalOptions eo;
  eo.attention = true;
  eo.max_images = o.eval_images;
  eo.workers = torch::get_num_threads();
  auto ev = train::evaluate(*model.value(), test, eo);
  if (!ev)
    return ev.error();
  const auto& x = ev.value();
  return fmt::format(
      "| {} | {} | {:.2f}% | {:.4f} | {:.4f} | {:.4f} ({:.4f}) | {:.4f} ({:.4f}) | {:.0f} | {} |\n",
      e.variant, e.fusion, 100 * x.vqa_accuracy, x.bleu4(), x.cider_d, x.caption_attention,
      x.caption_uniform, x.answer_attention, x.answer_uniform,
      1000 * r.value().step_seconds / std::max<int64_t>(1, r.value().steps_this_run),
      r.value().steps);
}

int run_compare(const CompareOptions& o) {
  auto list = entries(o);
  if (!list)
    return report_error(list.error().message);
  auto test = data::load_world_folder(o.train.train_dir, o.split);
  if (!test)
    return report_error(test.error().message);
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec)
    return report_error("cannot create '" + o.out_dir + "': " + ec.message());
  std::string table =
      "| variant | fusion | VQA accuracy | BLEU-4 | CIDEr-D | attention correctness, captions "
      "(uniform) | attention correctness, answers (uniform) | ms per step | train steps |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  std::cout << table << std::flush;
  int status = 0;
  for (const auto& e : list.value()) {
    auto row = run_entry(o, e, test.value());
    if (!row) {
      status = report_error(e.label() + ": " + row.error().message);
      continue;
    }
    table += row.value();
    std::cout << row.value() << std::flush;
  }
  if (!o.table.empty()) {
    std::ofstream f(o.table);
    f << table;
    if (!f)
      return report_error("cannot write '" + o.table + "'");
  }
  return status;
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
  cmd->add_option(
      "--fusions", o->fusions,
      "Comma-separated question fusions, each tried with every variant: none, film, "
      "film:BLOCKS, film:BLOCKS:KERNEL, film:BLOCKS:KERNEL:RELATIONS, "
      "film:BLOCKS:KERNEL:RELATIONS:COUNT_MAPS[:PLURALS[:GLIMPSES[:MODE[:COMPARE[:CONTENTS]]]]]");
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
  cmd->callback([o, &action] { action = [o] { return run_compare(*o); }; });
}

}  // namespace glimpse::app
