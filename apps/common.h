// What every glimpse subcommand shares: thread count, image limits, default paths, and the
// convention that a failure is one line on stderr and a non-zero exit.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "glimpse/core/error.h"

#include "glimpse/vision/image_decode.h"

namespace glimpse::app {

struct CommonOptions {
  int threads = 0;  // 0 = every core
  vision::ImageLimits image_limits;
};

// A subcommand's work, run after parsing; returns the process exit code.
using Action = std::function<int()>;

// The shared data folder: $GLIMPSE_SHARED_DIR, else the ../shared the build was configured with.
std::string shared_dir();

// The models folder: $GLIMPSE_MODELS_DIR, else the source tree's models/.
std::string models_dir();
// The names (file stems) of the models there.
std::vector<std::string> model_names();
// A model name (a file in models_dir()) or a path, as the path of its file.
Result<std::string> resolve_model(const std::string& name_or_path);
// The models commands use when --model is not given: photographs are captioned by the Flickr8k
// model; questions (which it was not trained on) go to the shapes model.
inline constexpr const char* kDefaultModel = "flickr8k";
inline constexpr const char* kDefaultQuestionModel = "shapes";

// The command line as typed (recorded in the models glimpse trains).
const std::string& command_line();
void set_command_line(int argc, char** argv);

// Adds --max-image-bytes and --max-pixels to `cmd`.
void add_image_limit_flags(CLI::App& cmd, CommonOptions& common);

// Prints "glimpse: <message>" on one line to stderr and returns exit code 1.
int report_error(const std::string& message);

// While alive, the process's stderr (fd 2) goes to /dev/null. OpenCV 4.6 writes decoder
// failures straight to std::cerr and libpng/libtiff print their own warnings; the command line
// promises one line per error, so it mutes them around decoding and says what went wrong itself.
// Process-wide: for the command line only, never in library code.
class QuietStderr {
 public:
  QuietStderr();
  ~QuietStderr();
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;

 private:
  int saved_ = -1;
};

// vision::load_image with the decoders' own stderr output muted (see QuietStderr).
Result<cv::Mat> load_image_quietly(const std::string& path, const vision::ImageLimits& limits);

void add_classify_command(CLI::App& app, CommonOptions& common, Action& action);
void add_score_command(CLI::App& app, CommonOptions& common, Action& action);
void add_world_command(CLI::App& app, CommonOptions& common, Action& action);
void add_train_command(CLI::App& app, CommonOptions& common, Action& action);
void add_eval_command(CLI::App& app, CommonOptions& common, Action& action);
void add_caption_command(CLI::App& app, CommonOptions& common, Action& action);
void add_ask_command(CLI::App& app, CommonOptions& common, Action& action);
void add_compare_command(CLI::App& app, CommonOptions& common, Action& action);
void add_serve_command(CLI::App& app, CommonOptions& common, Action& action);
void add_features_command(CLI::App& app, CommonOptions& common, Action& action);
void add_questions_command(CLI::App& app, CommonOptions& common, Action& action);

}  // namespace glimpse::app
