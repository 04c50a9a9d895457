#include "glimpse/train/step_plan.h"

#include <algorithm>
#include <random>
#include <utility>

namespace glimpse::train {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<size_t> epoch_order(size_t n, uint64_t seed, int epoch) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  std::mt19937_64 g(mix(seed, static_cast<uint64_t>(epoch)));
  for (size_t i = n; i > 1; --i)
    std::swap(order[i - 1], order[static_cast<size_t>(g() % i)]);  // Fisher-Yates
  return order;
}

std::vector<std::vector<size_t>> epoch_steps(const std::vector<size_t>& sequences, int batch_size,
                                             uint64_t seed, int epoch) {
  std::vector<size_t> all(sequences.size());
  for (size_t i = 0; i < all.size(); ++i)
    all[i] = i;
  return epoch_steps(sequences, all, batch_size, seed, epoch);
}

std::vector<std::vector<size_t>> epoch_steps(const std::vector<size_t>& sequences,
                                             const std::vector<size_t>& images, int batch_size,
                                             uint64_t seed, int epoch) {
  std::vector<std::vector<size_t>> steps(1);
  size_t in_step = 0;
  for (size_t at : epoch_order(images.size(), seed, epoch)) {
    const size_t i = images[at];
    if (sequences[i] == 0)
      continue;
    if (in_step >= static_cast<size_t>(batch_size)) {
      steps.emplace_back();
      in_step = 0;
    }
    steps.back().push_back(i);
    in_step += sequences[i];
  }
  return steps;
}

std::vector<size_t> step_parts(const std::vector<size_t>& tokens, size_t parts) {
  parts = std::min(parts, tokens.size());
  size_t total = 0;
  for (size_t t : tokens)
    total += t;
  std::vector<size_t> part(tokens.size(), 0);
  size_t seen = 0, k = 0, in_part = 0;
  for (size_t j = 0; j < tokens.size(); ++j) {
    // Part k ends before the image whose middle token lies past its share of the tokens, or
    // that is needed to leave an image for each part after it.
    if (k + 1 < parts && in_part > 0 &&
        ((2 * seen + tokens[j]) * parts > 2 * total * (k + 1) ||
         tokens.size() - j == parts - k - 1)) {
      ++k;
      in_part = 0;
    }
    part[j] = k;
    ++in_part;
    seen += tokens[j];
  }
  return part;
}

}  // namespace glimpse::train
