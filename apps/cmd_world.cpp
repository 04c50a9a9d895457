// glimpse world: export shapes-world scenes with captions and questions.
#include <fmt/format.h>

#include <iostream>

#include "common.h"
#include "glimpse/data/world_export.h"

namespace glimpse::app {

namespace {
struct WorldCommandOptions {
  std::string out;
  int count = 100;
  uint64_t seed = 1;
  uint64_t first = 0;
  std::string split = "train";
  int image_size = 128;
  bool compositional = false;
  bool balanced = false;
  std::vector<std::string> family_weights;
  int questions = data::WorldOptions{}.questions_per_scene;
};
}  // namespace

void add_world_command(CLI::App& app, CommonOptions& /*common*/, Action& action) {
  auto o = std::make_shared<WorldCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "world",
      "Export shapes-world scenes: PNG images, COCO captions JSON (with word boxes), VQA v2 JSON");
  cmd->add_option("--out", o->out, "Output folder (created if needed)")->required();
  cmd->add_option("--count", o->count, "How many scenes")->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--seed", o->seed, "World seed: the same seed gives the same scenes");
  cmd->add_option("--first", o->first, "Index of the first scene");
  cmd->add_option("--split", o->split, "train, dev or test (each a different stream of scenes)");
  cmd->add_option("--image-size", o->image_size, "Image side in pixels")
      ->check(CLI::Range(32, 1024));
  cmd->add_option("--questions", o->questions,
                  "Questions per scene (fewer when a scene has no more distinct ones); the first "
                  "N are the same whatever N")
      ->check(CLI::Range(0, 50))
      ->capture_default_str();
  cmd->add_flag("--compositional", o->compositional,
                "Hold six colour-shape pairs out of the training split (like CLEVR-CoGenT)");
  cmd->add_flag("--balanced", o->balanced,
                "Give every question family that fits a scene an equal share (each is retried "
                "before moving on); without it relations and what-left come out rarer");
  cmd->add_option("--family-weights", o->family_weights,
                  "With --balanced: FAMILY=W (W in 0..10) turns of a family per round of the "
                  "rotation, every other family 1, e.g. relation=3 count=2 what-left=2; "
                  "families: colour, shape, size, count, exist, relation, what-left")
      ->delimiter(',');
  cmd->callback([o, &action] {
    action = [o]() -> int {
      auto split = data::parse_split(o->split);
      if (!split)
        return report_error(split.error().message);
      data::WorldOptions wo;
      wo.seed = o->seed;
      wo.image_size = o->image_size;
      wo.questions_per_scene = o->questions;
      wo.balanced_families = o->balanced;
      if (!o->family_weights.empty() && !o->balanced)
        return report_error(
            "--family-weights shares out the turns of --balanced: add --balanced, or drop "
            "--family-weights");
      for (const auto& fw : o->family_weights) {
        const auto eq = fw.find('=');
        auto family = data::parse_question_family(fw.substr(0, eq));
        if (eq == std::string::npos || !family)
          return report_error("--family-weights '" + fw + "': " +
                              (eq == std::string::npos ? "write FAMILY=W, e.g. relation=3"
                                                       : family.error().message));
        int w = -1;
        size_t used = 0;
        try {
          w = std::stoi(fw.substr(eq + 1), &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != fw.size() - eq - 1 || w < 0 || w > 10)
          return report_error("--family-weights '" + fw +
                              "': the weight must be a whole number from 0 to 10");
        wo.family_weights[static_cast<size_t>(family.value())] = w;
      }
      if (o->compositional)
        wo.held_out = data::compositional_holdout();
      auto sum = catch_as_result([&] {
        return data::export_world(data::ShapesWorld(wo), split.value(), o->first, o->count, o->out)
            .take();
      });
      if (!sum)
        return report_error(sum.error().message);
      std::cout << fmt::format("wrote {} images, {} captions, {} questions ({} split) to {}\n",
                               sum.value().images, sum.value().captions, sum.value().questions,
                               o->split, o->out);
      return 0;
    };
  });
}

}  // namespace glimpse::app
