#include "glimpse/text/caption_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "glimpse/core/error.h"

namespace glimpse::text {

namespace {

constexpr int kMaxN = 4;
using NGram = std::vector<std::string>;
using Counts = std::map<NGram, int>;

// Python's str.split(): runs of whitespace separate, no empty tokens.
std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string t; in >> t;)
    w.push_back(t);
  return w;
}

// Python's str.split(" "): every single space separates, empty tokens kept.
std::vector<std::string> split_space(const std::string& s) {
  std::vector<std::string> w;
  size_t start = 0;
  while (true) {
    size_t sp = s.find(' ', start);
    w.push_back(s.substr(start, sp == std::string::npos ? std::string::npos : sp - start));
    if (sp == std::string::npos)
      break;
    start = sp + 1;
  }
  return w;
}

Counts precook(const std::vector<std::string>& words) {
  Counts c;
  for (int k = 1; k <= kMaxN; ++k)
    for (size_t i = 0; i + static_cast<size_t>(k) <= words.size(); ++i)
      ++c[NGram(words.begin() + static_cast<long>(i), words.begin() + static_cast<long>(i) + k)];
  return c;
}

void check(const std::vector<std::string>& c, const std::vector<std::vector<std::string>>& r) {
  if (c.size() != r.size())
    throw Error(ErrorCode::kInvalidArgument,
                "metrics need one candidate per image: " + std::to_string(c.size()) +
                    " candidates for " + std::to_string(r.size()) + " images");
  for (size_t i = 0; i < r.size(); ++i)
    if (r[i].empty())
      throw Error(ErrorCode::kInvalidArgument, "image " + std::to_string(i) + " has no reference");
}

int lcs(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<int> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::array<double, 4> bleu(const std::vector<std::string>& candidates,
                           const std::vector<std::vector<std::string>>& references) {
  check(candidates, references);
  const double tiny = 1e-15, small = 1e-9;
  double testlen = 0, reflen = 0;
  std::array<double, kMaxN> guess{}, correct{};
  for (size_t i = 0; i < candidates.size(); ++i) {
    std::map<NGram, int> maxref;
    std::vector<int> reflens;
    for (const auto& r : references[i]) {
      auto words = split_ws(r);
      reflens.push_back(static_cast<int>(words.size()));
      for (const auto& [g, c] : precook(words))
        maxref[g] = std::max(maxref[g], c);
    }
    auto words = split_ws(candidates[i]);
    const int tl = static_cast<int>(words.size());
    // closest reference length; ties go to the shorter (Python's min over (|l - t|, l))
    int best = reflens[0];
    for (int l : reflens)
      if (std::abs(l - tl) < std::abs(best - tl) ||
          (std::abs(l - tl) == std::abs(best - tl) && l < best))
        best = l;
    testlen += tl;
    reflen += best;
    for (int k = 0; k < kMaxN; ++k)
      guess[k] += std::max(0, tl - k);
    for (const auto& [g, c] : precook(words)) {
      auto it = maxref.find(g);
      correct[g.size() - 1] += std::min(it == maxref.end() ? 0 : it->second, c);
    }
  }
  std::array<double, 4> out{};
  const double ratio = (testlen + tiny) / (reflen + small);
  double prod = 1.0;
  for (int n = 0; n < kMaxN; ++n) {
    prod *= (correct[n] + tiny) / (guess[n] + small);
    out[n] = std::pow(prod, 1.0 / (n + 1));
    if (ratio < 1)
      out[n] *= std::exp(1 - 1 / ratio);
  }
  return out;
}

double rouge_l(const std::vector<std::string>& candidates,
               const std::vector<std::vector<std::string>>& references) {
  check(candidates, references);
  const double beta = 1.2;
  double total = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto c = split_space(candidates[i]);
    double pmax = 0, rmax = 0;
    for (const auto& ref : references[i]) {
      const auto r = split_space(ref);
      const double l = lcs(r, c);
      pmax = std::max(pmax, l / static_cast<double>(c.size()));
      rmax = std::max(rmax, l / static_cast<double>(r.size()));
    }
    if (pmax != 0 && rmax != 0)
      total += ((1 + beta * beta) * pmax * rmax) / (rmax + beta * beta * pmax);
  }
  return candidates.empty() ? 0.0 : total / static_cast<double>(candidates.size());
}

std::vector<double> cider_d(const std::vector<std::string>& candidates,
                            const std::vector<std::vector<std::string>>& references) {
  check(candidates, references);
  const double sigma = 6.0;
  std::vector<std::vector<Counts>> refs(references.size());
  std::map<NGram, double> df;
  for (size_t i = 0; i < references.size(); ++i) {
    std::set<NGram> seen;
    for (const auto& r : references[i]) {
      refs[i].push_back(precook(split_ws(r)));
      for (const auto& [g, c] : refs[i].back())
        seen.insert(g);
    }
    for (const auto& g : seen)
      df[g] += 1;
  }
  const double ref_len = std::log(static_cast<double>(references.size()));

  struct Vec {
    std::array<std::map<NGram, double>, kMaxN> v;
    std::array<double, kMaxN> norm{};
    int length = 0;
  };
  auto to_vec = [&](const Counts& counts) {
    Vec out;
    for (const auto& [g, tf] : counts) {
      auto it = df.find(g);
      const double d = std::log(std::max(1.0, it == df.end() ? 0.0 : it->second));
      const size_t n = g.size() - 1;
      const double w = tf * (ref_len - d);
      out.v[n][g] = w;
      out.norm[n] += w * w;
      if (n == 1)
        out.length += tf;  // pycocoevalcap counts the length in bigrams
    }
    for (auto& x : out.norm)
      x = std::sqrt(x);
    return out;
  };

  std::vector<double> scores;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Vec hyp = to_vec(precook(split_ws(candidates[i])));
    std::array<double, kMaxN> score{};
    for (const auto& rc : refs[i]) {
      const Vec ref = to_vec(rc);
      const double delta = hyp.length - ref.length;
      for (int n = 0; n < kMaxN; ++n) {
        double val = 0;
        for (const auto& [g, w] : hyp.v[n]) {
          auto it = ref.v[n].find(g);
          const double rw = it == ref.v[n].end() ? 0.0 : it->second;
          val += std::min(w, rw) * rw;
        }
        if (hyp.norm[n] != 0 && ref.norm[n] != 0)
          val /= hyp.norm[n] * ref.norm[n];
        val *= std::exp(-(delta * delta) / (2 * sigma * sigma));
        score[n] += val;
      }
    }
    double avg = std::accumulate(score.begin(), score.end(), 0.0) / kMaxN;
    avg /= static_cast<double>(refs[i].size());
    scores.push_back(avg * 10.0);
  }
  return scores;
}

CaptionScores score_captions(const std::vector<std::string>& candidates,
                             const std::vector<std::vector<std::string>>& references) {
  CaptionScores s;
  s.bleu = bleu(candidates, references);
  s.rouge_l = rouge_l(candidates, references);
  s.cider_per_image = cider_d(candidates, references);
  s.cider_d = s.cider_per_image.empty()
                  ? 0.0
                  : std::accumulate(s.cider_per_image.begin(), s.cider_per_image.end(), 0.0) /
                        static_cast<double>(s.cider_per_image.size());
  return s;
}

}  // namespace glimpse::text
