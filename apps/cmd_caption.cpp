// glimpse caption IMAGE... and glimpse ask IMAGE QUESTION...: captions and answers, with the
// attention of every word written out as an overlay sheet or one image a word.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "glimpse/core/utf8.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/fusion/overlay.h"
#include "glimpse/fusion/service.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/web/json_codec.h"

namespace glimpse::app {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct GenerateCommandOptions {
  std::vector<std::string> inputs;  // caption: images; ask: the image, then questions
  std::string model = kDefaultModel;
  int beam = 3;
  int max_len = 20;
  double length_penalty = text::SearchOptions{}.length_penalty;
  bool json = false;
  std::string overlay;
  std::string overlay_dir;
  fusion::OverlayOptions look;
};

void add_generate_flags(CLI::App& cmd, GenerateCommandOptions& o, CommonOptions& common) {
  cmd.add_option("--model", o.model,
                 "Model name (a file in models/) or path of a .safetensors model file");
  cmd.add_option("--beam", o.beam, "Beam width (1 = greedy)")->check(CLI::Range(1, 20));
  cmd.add_option("--max-len", o.max_len, "Most words to write")->check(CLI::Range(1, 100));
  cmd.add_option("--length-penalty", o.length_penalty,
                 "Beam search: scores are divided by length^this")
      ->check(CLI::Range(0.0, 5.0));
  cmd.add_flag("--json", o.json,
               "Print JSON: words, log-probabilities, the attention maps in the API's layout, "
               "timings");
  cmd.add_option("--overlay", o.overlay,
                 "Write an attention sheet: the image, then each word under its heat map, in the "
                 "format the name's extension says (.png, .jpg, .webp, ...). With several images "
                 "or questions, -<n> is added before the extension");
  cmd.add_option("--overlay-dir", o.overlay_dir,
                 "Write one PNG a word into this folder (created if needed)");
  cmd.add_option("--colormap", o.look.colormap, "Heat map colours")
      ->check(CLI::IsMember(fusion::colormap_names()));
  cmd.add_option("--opacity", o.look.opacity, "Heat map opacity over the image")
      ->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--tile", o.look.tile, "Overlay sheet: tile size in pixels")
      ->check(CLI::Range(32, 4096));
  add_image_limit_flags(cmd, common);
}

std::string numbered(const std::string& path, size_t n, size_t count) {
  if (count <= 1)
    return path;
  const fs::path p(path);
  return (p.parent_path() /
          (p.stem().string() + "-" + std::to_string(n + 1) + p.extension().string()))
      .string();
}

// What the flags alone can tell is wrong, before a model is loaded.
Status check_outputs(const GenerateCommandOptions& o) {
  if (o.overlay.empty())
    return {};
  auto format = vision::image_format_of(o.overlay);
  if (!format)
    return Status(ErrorInfo{format.error().code, "--overlay: " + format.error().message});
  return {};
}

// The file name stem of an input, for --overlay-dir.
std::string stem_of(const std::string& path) {
  return path == "-" ? "stdin" : fs::path(path).stem().string();
}

// Writes the overlays asked for; returns an error message, or "" when all went well.
std::string write_overlays(const GenerateCommandOptions& o, const cv::Mat& rgb,
                           const fusion::Prediction& p, const vision::PreprocessOptions& pre,
                           size_t n, size_t count, const std::string& title,
                           const std::string& stem) {
  return catch_as_status([&] {
           if (!o.overlay.empty()) {
             auto sheet = fusion::overlay_sheet(rgb, p, pre, o.look, title);
             vision::save_image(numbered(o.overlay, n, count), sheet).throw_if_error();
           }
           if (!o.overlay_dir.empty()) {
             std::error_code ec;
             fs::create_directories(o.overlay_dir, ec);
             if (ec)
               throw Error(ErrorCode::kIo,
                           "cannot create the folder '" + o.overlay_dir + "': " + ec.message());
             auto tiles = fusion::overlay_words(rgb, p, pre, o.look);
             for (size_t t = 0; t < tiles.size(); ++t)
               vision::save_png(
                   fmt::format("{}/{}-{:02}-{}.png", o.overlay_dir, stem, t + 1, p.words[t]),
                   tiles[t])
                   .throw_if_error();
           }
         })
      .error()
      .message;
}

// The API's layout (web/json_codec.h), so that a script reads the CLI and the server alike.
json prediction_json(const fusion::Prediction& p, double seconds) {
  json j = web::result_json(fusion::to_service_result(p));
  j["seconds"] = seconds;
  return j;
}

// Why a question cannot be asked, or "" when it can.
std::string question_problem(const std::string& q, size_t n) {
  const std::string which = "question " + std::to_string(n + 1);
  if (!core::is_valid_utf8(q))
    return which + " is not valid UTF-8 text ('" + core::utf8_prefix(q, 60) +
           "'); type it in a UTF-8 terminal or convert it with iconv";
  if (text::tokenize(q).empty())
    return which + " has no words: ask e.g. \"what colour is the circle?\"";
  return "";
}

// Plain text says what --json says in "unknown_words": the words the answer could not use.
void note_unknown_words(const std::vector<std::string>& unknown) {
  if (unknown.empty())
    return;
  std::string list;
  for (const auto& w : unknown)
    list += (list.empty() ? "'" : ", '") + core::utf8_prefix(w, 40) + "'";
  std::cerr << "glimpse: note: the model does not know " << list << ": its answer cannot use "
            << (unknown.size() == 1 ? "it" : "them") << "\n";
}

fusion::GenerateOptions generate_options(const GenerateCommandOptions& o) {
  fusion::GenerateOptions g;
  g.beam = o.beam;
  g.max_len = o.max_len;
  g.length_penalty = o.length_penalty;
  return g;
}

Result<std::shared_ptr<fusion::CaptionModel>> open_model(const std::string& name,
                                                         const std::string& task) {
  auto path = resolve_model(name);
  if (!path)
    return path.error();
  auto model = fusion::CaptionModel::load(path.value());
  if (!model)
    return model.error();
  if (!model.value()->config().has_task(task))
    return ErrorInfo{ErrorCode::kInvalidArgument,
                     "model '" + name + "' was not trained to " +
                         (task == "vqa" ? "answer questions" : "caption images") +
                         "; pick another with --model"};
  return model;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void add_caption_command(CLI::App& app, CommonOptions& common, Action& action) {
  auto o = std::make_shared<GenerateCommandOptions>();
  CLI::App* cmd = app.add_subcommand("caption", "Caption images and show where the model looked");
  cmd->add_option("images", o->inputs,
                  "Image files (PNG, JPEG, BMP, TIFF, WebP, GIF); - reads one from standard input")
      ->required();
  add_generate_flags(*cmd, *o, common);
  cmd->callback([o, &common, &action] {
    action = [o, &common]() -> int {
      if (auto s = check_outputs(*o); !s)
        return report_error(s.error().message);
      auto model = open_model(o->model, "caption");
      if (!model)
        return report_error(model.error().message);
      const auto& m = *model.value();
      int status = 0;
      json results = json::array();
      for (size_t n = 0; n < o->inputs.size(); ++n) {
        const std::string& path = o->inputs[n];
        auto img = load_image_quietly(path, common.image_limits);
        if (!img) {
          status = report_error(img.error().message);
          continue;
        }
        const auto t0 = std::chrono::steady_clock::now();
        auto p = m.caption(img.value(), generate_options(*o));
        if (!p) {
          status = report_error(path + ": " + p.error().message);
          continue;
        }
        const double seconds = seconds_since(t0);
        const auto& pred = p.value();
        if (o->json) {
          auto j = prediction_json(pred, seconds);
          j["image"] = path;
          j["model"] = o->model;
          results.push_back(j);
        } else if (o->inputs.size() > 1) {
          std::cout << (path == "-" ? "standard input" : path) << ": " << pred.text << "\n";
        } else {
          std::cout << pred.text << "\n";
        }
        const std::string err = write_overlays(*o, img.value(), pred, m.config().image, n,
                                               o->inputs.size(), "", stem_of(path));
        if (!err.empty())
          status = report_error(err);
      }
      if (o->json)
        std::cout << web::dump_json(results, 1) << "\n";
      return status;
    };
  });
}

void add_ask_command(CLI::App& app, CommonOptions& common, Action& action) {
  auto o = std::make_shared<GenerateCommandOptions>();
  o->beam = 1;
  o->model = kDefaultQuestionModel;
  CLI::App* cmd =
      app.add_subcommand("ask", "Answer questions about an image and show where the model looked");
  cmd->add_option("image_and_questions", o->inputs,
                  "The image file (- reads standard input), then one or more questions")
      ->required()
      ->expected(1, 1000);
  add_generate_flags(*cmd, *o, common);
  cmd->callback([o, &common, &action] {
    action = [o, &common]() -> int {
      const std::string& path = o->inputs[0];
      const std::vector<std::string> questions(o->inputs.begin() + 1, o->inputs.end());
      if (questions.empty())
        return report_error("ask needs a question after the image: glimpse ask " + path +
                            " \"what colour is the circle?\"");
      for (size_t n = 0; n < questions.size(); ++n)
        if (auto problem = question_problem(questions[n], n); !problem.empty())
          return report_error(problem);
      if (auto s = check_outputs(*o); !s)
        return report_error(s.error().message);
      auto model = open_model(o->model, "vqa");
      if (!model)
        return report_error(model.error().message);
      const auto& m = *model.value();
      auto img = load_image_quietly(path, common.image_limits);
      if (!img)
        return report_error(img.error().message);
      int status = 0;
      json results = json::array();
      for (size_t n = 0; n < questions.size(); ++n) {
        const auto t0 = std::chrono::steady_clock::now();
        auto p = m.answer(img.value(), questions[n], generate_options(*o));
        if (!p) {
          status = report_error(p.error().message);
          continue;
        }
        const double seconds = seconds_since(t0);
        const auto& pred = p.value();
        const auto unknown = m.unknown_words(questions[n]);
        if (o->json) {
          auto j = prediction_json(pred, seconds);
          j["image"] = path;
          j["model"] = o->model;
          j["question"] = questions[n];
          j["unknown_words"] = unknown;
          results.push_back(j);
        } else {
          std::cout << (questions.size() > 1 ? questions[n] + " " : "") << pred.text << "\n";
          note_unknown_words(unknown);
        }
        const std::string err =
            write_overlays(*o, img.value(), pred, m.config().image, n, questions.size(),
                           questions[n], stem_of(path) + "-q" + std::to_string(n + 1));
        if (!err.empty())
          status = report_error(err);
      }
      if (o->json)
        std::cout << web::dump_json(results, 1) << "\n";
      return status;
    };
  });
}

}  // namespace glimpse::app
