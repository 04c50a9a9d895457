#include "glimpse/fusion/overlay.h"

#include <gtest/gtest.h>

namespace glimpse::fusion {
namespace {

vision::PreprocessOptions square(int side, vision::ResizePolicy policy) {
  vision::PreprocessOptions p;
  p.width = p.height = side;
  p.resize = policy;
  return p;
}

TEST(ModelView, IsTheImageForStretchTheCentreForCropAndMoreForLetterbox) {
  const cv::Size img(200, 100);
  EXPECT_EQ(vision::model_view(img, square(64, vision::ResizePolicy::kStretch)),
            cv::Rect2d(0, 0, 200, 100));
  // center-crop: scaled to 128x64, the central 64x64 kept = the central 100x100 of the image
  const auto crop = vision::model_view(img, square(64, vision::ResizePolicy::kCenterCrop));
  EXPECT_NEAR(crop.x, 50, 1e-9);
  EXPECT_NEAR(crop.y, 0, 1e-9);
  EXPECT_NEAR(crop.width, 100, 1e-9);
  EXPECT_NEAR(crop.height, 100, 1e-9);
  // letterbox: scaled to 64x32 and padded by 16 above and below = 50 image pixels each side
  const auto box = vision::model_view(img, square(64, vision::ResizePolicy::kLetterbox));
  EXPECT_NEAR(box.x, 0, 1e-9);
  EXPECT_NEAR(box.y, -50, 1e-9);
  EXPECT_NEAR(box.width, 200, 1e-9);
  EXPECT_NEAR(box.height, 200, 1e-9);
}

TEST(MassInside, CountsEachCellsShareOfTheBoxExactly) {
  const auto pre = square(32, vision::ResizePolicy::kStretch);
  cv::Mat map(4, 4, CV_32F, cv::Scalar(0));  // cells of 10x10 on a 40x40 image
  map.at<float>(1, 2) = 0.75f;               // cell x 20..30, y 10..20
  map.at<float>(3, 0) = 0.25f;               // cell x 0..10, y 30..40
  const cv::Size img(40, 40);
  EXPECT_NEAR(mass_inside(map, img, pre, {{20, 10, 10, 10}}), 0.75, 1e-9);
  EXPECT_NEAR(mass_inside(map, img, pre, {{25, 10, 10, 10}}), 0.375, 1e-9);  // half the cell
  EXPECT_NEAR(mass_inside(map, img, pre, {{20, 10, 10, 10}, {0, 30, 5, 10}}), 0.875, 1e-9);
  EXPECT_NEAR(mass_inside(map, img, pre, {{0, 0, 10, 10}}), 0.0, 1e-9);
  // Uniform attention scores the box's share of the image.
  EXPECT_NEAR(uniform_mass_inside({4, 4}, img, pre, {{0, 0, 20, 10}}), 200.0 / 1600, 1e-9);
  // Letterboxed: the padding cells hold no object.
  EXPECT_NEAR(uniform_mass_inside({4, 4}, {40, 20}, square(32, vision::ResizePolicy::kLetterbox),
                                  {{0, 0, 40, 20}}),
              0.5, 1e-9);
}

// A box 5 pixels past a cell edge, 20 wide: coverage 0.5, 1, 0.5 along x (a 1x4 grid of
// 10-pixel cells over x 0..40, the box x 5..25).
TEST(AttentionTarget, PowersConcentrateTheTargetInsideTheBox) {
  const auto pre = square(32, vision::ResizePolicy::kStretch);
  const cv::Mat cover = cell_coverage({4, 1}, {40, 10}, pre, {{5, 0, 20, 10}});
  ASSERT_FLOAT_EQ(cover.at<float>(0, 0), 0.5f);
  ASSERT_FLOAT_EQ(cover.at<float>(0, 1), 1.0f);
  const cv::Mat spread = attention_target(cover);
  EXPECT_FLOAT_EQ(spread.at<float>(0, 0), 0.25f);
  EXPECT_FLOAT_EQ(spread.at<float>(0, 1), 0.5f);
  EXPECT_FLOAT_EQ(spread.at<float>(0, 2), 0.25f);
  EXPECT_FLOAT_EQ(spread.at<float>(0, 3), 0.0f);
  // Matching it scores sum(c^2) / sum(c) = 1.5 / 2 = 0.75; power 4 gives 1 / 1.125 each side
  // 0.0625 / 1.125, and scores (0.0625 * 0.5 * 2 + 1) / 1.125 = 0.944.
  EXPECT_NEAR(mass_inside(spread, cover), 0.75, 1e-6);
  const cv::Mat sharp = attention_target(cover, 4.0);
  EXPECT_NEAR(sharp.at<float>(0, 1), 1.0 / 1.125, 1e-6);
  EXPECT_NEAR(sharp.at<float>(0, 0), 0.0625 / 1.125, 1e-6);
  EXPECT_NEAR(mass_inside(sharp, cover), 1.0625 / 1.125, 1e-6);
  // No box in view: all zeros, not a division by zero.
  EXPECT_EQ(cv::countNonZero(attention_target(cv::Mat(2, 2, CV_32F, cv::Scalar(0)), 2.0)), 0);
  EXPECT_THROW(attention_target(cover, 0.5), Error);
}

TEST(Upsample, PutsThePeakOverItsCellAndScalesToOne) {
  cv::Mat map(4, 4, CV_32F, cv::Scalar(0.01f));
  map.at<float>(1, 2) = 1.0f;
  const cv::Mat up = upsample(map, {80, 40}, square(32, vision::ResizePolicy::kStretch));
  ASSERT_EQ(up.size(), cv::Size(80, 40));
  double lo = 0, hi = 0;
  cv::Point at;
  cv::minMaxLoc(up, &lo, &hi, nullptr, &at);
  EXPECT_FLOAT_EQ(static_cast<float>(hi), 1.0f);
  EXPECT_GE(lo, 0.0);
  EXPECT_NEAR(at.x, 50, 3);  // the centre of cell column 2 of 4 over 80 pixels is x = 50
  EXPECT_NEAR(at.y, 15, 3);
}

Prediction fake_prediction() {
  Prediction p;
  p.words = {"a", "red", "circle"};
  p.log_probs = {-0.1f, -0.2f, -0.3f, -0.1f};
  p.grid_h = p.grid_w = 2;
  p.attention = torch::zeros({3, 2, 2, 2, 2});  // [T, layers, heads, gh, gw]
  p.attention.index_put_({0, 0, 0, 0, 0}, 1.0);
  p.attention.index_put_({0, 1, 1, 1, 1}, 1.0);
  return p;
}

TEST(WordAttention, AveragesOrPicksLayersAndHeads) {
  const auto p = fake_prediction();
  const cv::Mat avg = word_attention(p, 0);
  EXPECT_FLOAT_EQ(avg.at<float>(0, 0), 0.25f);
  EXPECT_FLOAT_EQ(avg.at<float>(1, 1), 0.25f);
  EXPECT_FLOAT_EQ(word_attention(p, 0, 1, 1).at<float>(1, 1), 1.0f);
  EXPECT_FLOAT_EQ(word_attention(p, 0, 1, -1).at<float>(1, 1), 0.5f);
  EXPECT_THROW(word_attention(p, 3), Error);
  EXPECT_THROW(word_attention(p, 0, 2, 0), Error);
}

TEST(OverlaySheet, HasTheImageThenOneLabelledTileAWord) {
  const auto p = fake_prediction();
  cv::Mat rgb(50, 100, CV_8UC3, cv::Scalar(200, 100, 50));
  OverlayOptions o;
  o.tile = 100;
  o.columns = 3;
  const cv::Mat sheet = overlay_sheet(rgb, p, square(32, vision::ResizePolicy::kStretch), o);
  // 4 tiles of 100x50 with an 18-pixel label strip, 3 a row: 2 rows.
  EXPECT_EQ(sheet.cols, 3 * 104 + 4);
  EXPECT_EQ(sheet.rows, 2 * (50 + 18 + 4) + 4);
  const auto words = overlay_words(rgb, p, square(32, vision::ResizePolicy::kStretch), o);
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[0].cols, 100);
  // The first tile is the image itself; the word tiles are tinted by their heat map.
  EXPECT_EQ(sheet.at<cv::Vec3b>(10, 10), cv::Vec3b(200, 100, 50));
  EXPECT_NE(sheet.at<cv::Vec3b>(10, 114), cv::Vec3b(200, 100, 50));
}

TEST(OverlayOptions, RefuseUnknownColourMapsAndOpacityOutOfRange) {
  OverlayOptions o;
  o.colormap = "rainbow";
  EXPECT_EQ(validate(o).error().message,
            "unknown colour map 'rainbow'; use one of gray, hot, inferno, jet, magma, turbo, "
            "viridis");
  o.colormap = "gray";
  o.opacity = 1.5;
  EXPECT_EQ(validate(o).error().message, "opacity must be between 0 and 1, got 1.500000");
  o.opacity = 0.3;
  EXPECT_TRUE(validate(o));
}

}  // namespace
}  // namespace glimpse::fusion
