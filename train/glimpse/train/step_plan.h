// What each step trains on, derived from (seed, epoch) alone so that a resumed run needs no
// shuffler state: the epoch's image order, its steps (whole images, every caption and question
// of an image in one step, so each image is encoded once per step), and each step's parts for
// data parallelism (about equal numbers of tokens each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace glimpse::train {

// A 64-bit hash of two numbers (splitmix64's finaliser): the seeds of epochs, steps and parts.
uint64_t mix(uint64_t a, uint64_t b);

// The images 0..n-1 in the order of `epoch` (a Fisher-Yates shuffle seeded by mix(seed, epoch)).
std::vector<size_t> epoch_order(size_t n, uint64_t seed, int epoch);

// The steps of an epoch: images with sequences, in epoch order, a new step begun once the current
// one holds batch_size sequences or more. sequences[i]: image i's sequence count.
std::vector<std::vector<size_t>> epoch_steps(const std::vector<size_t>& sequences, int batch_size,
                                             uint64_t seed, int epoch);
// The same over the epoch's `images` (an image may come more than once), shuffled as a list:
// with images 0..n-1 the steps are those above.
std::vector<std::vector<size_t>> epoch_steps(const std::vector<size_t>& sequences,
                                             const std::vector<size_t>& images, int batch_size,
                                             uint64_t seed, int epoch);

// The part (0..parts-1) of each image of a step, given each image's tokens: consecutive images,
// every part at least one image, a part ending before the image whose middle token lies past its
// share of the step's tokens.
std::vector<size_t> step_parts(const std::vector<size_t>& tokens, size_t parts);

}  // namespace glimpse::train
