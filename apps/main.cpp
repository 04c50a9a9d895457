// glimpse: caption images, answer questions about them, and show where the model looked.
#include <opencv2/core/utils/logger.hpp>

#include <malloc.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "common.h"
#include "glimpse/core/error.h"
#include "glimpse/core/threads.h"

int main(int argc, char** argv) {
  // Tensors of a few MB are allocated and freed at every training step; glibc's defaults hand
  // them back to the kernel each time, and the page faults that follow cost 15% of a step.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  using namespace glimpse;
  // Library chatter (libpng/libtiff warnings routed through OpenCV's logger) would break the
  // one-line-error contract; our own messages say what went wrong.
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);

  CLI::App app{
      "glimpse: caption images and answer questions about them with attention,\n"
      "and show where the model looked for every word.",
      "glimpse"};
  app.option_defaults()->always_capture_default();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("glimpse ") + GLIMPSE_VERSION);
  app::CommonOptions common;
  app.add_option("--threads", common.threads,
                 "Intra-op threads for the tensor library (0 = every core, " +
                     std::to_string(core::default_threads()) + " here)")
      ->check(CLI::NonNegativeNumber);

  app::Action action;
  app::add_classify_command(app, common, action);
  app::add_score_command(app, common, action);
  app::add_world_command(app, common, action);
  app::add_train_command(app, common, action);
  app::add_eval_command(app, common, action);
  app::add_caption_command(app, common, action);
  app::add_ask_command(app, common, action);
  app::add_compare_command(app, common, action);
  app::add_serve_command(app, common, action);
  app::add_features_command(app, common, action);
  app::add_questions_command(app, common, action);

  try {
    app::set_command_line(argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    core::set_threads(common.threads);
    return action ? action() : 0;
  } catch (...) {
    return app::report_error(error_from_current_exception().message);
  }
}
