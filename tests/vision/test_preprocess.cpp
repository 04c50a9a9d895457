#include "glimpse/vision/preprocess.h"

#include <gtest/gtest.h>

namespace glimpse::vision {
namespace {

// Left half red, right half blue, `w` x `h`.
cv::Mat halves(int w, int h) {
  cv::Mat m(h, w, CV_8UC3, cv::Scalar(255, 0, 0));
  m(cv::Rect(w / 2, 0, w - w / 2, h)).setTo(cv::Scalar(0, 0, 255));
  return m;
}

TEST(ParseResizePolicy, KnowsEveryNameAndListsThemOnError) {
  EXPECT_EQ(parse_resize_policy("stretch").value(), ResizePolicy::kStretch);
  EXPECT_EQ(parse_resize_policy("center-crop").value(), ResizePolicy::kCenterCrop);
  EXPECT_EQ(parse_resize_policy("centre-crop").value(), ResizePolicy::kCenterCrop);
  EXPECT_EQ(parse_resize_policy("letterbox").value(), ResizePolicy::kLetterbox);
  auto bad = parse_resize_policy("squash");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "unknown resize policy 'squash'; valid: stretch, center-crop, letterbox");
}

TEST(ToTensor, NormalisesWithMeanAndStd) {
  PreprocessOptions o;
  o.width = 4;
  o.height = 2;
  o.mean = {0.5f, 0.25f, 0.0f};
  o.stddev = {0.5f, 0.25f, 1.0f};
  cv::Mat m(2, 4, CV_8UC3, cv::Scalar(255, 0, 51));
  auto t = to_tensor(m, o);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{1, 3, 2, 4}));
  EXPECT_NEAR(t[0][0][1][2].item<float>(), 1.0f, 1e-6);   // (1 - .5) / .5
  EXPECT_NEAR(t[0][1][0][0].item<float>(), -1.0f, 1e-6);  // (0 - .25) / .25
  EXPECT_NEAR(t[0][2][1][3].item<float>(), 0.2f, 1e-6);   // 51/255
}

TEST(ResizeForModel, StretchKeepsBothHalves) {
  PreprocessOptions o;
  o.width = o.height = 10;
  cv::Mat r = resize_for_model(halves(40, 10), o);
  EXPECT_EQ(r.size(), cv::Size(10, 10));
  EXPECT_EQ(r.at<cv::Vec3b>(5, 1), cv::Vec3b(255, 0, 0));
  EXPECT_EQ(r.at<cv::Vec3b>(5, 8), cv::Vec3b(0, 0, 255));
}

TEST(ResizeForModel, CenterCropCutsTheSides) {
  PreprocessOptions o;
  o.width = o.height = 10;
  o.resize = ResizePolicy::kCenterCrop;
  cv::Mat img = halves(40, 10);
  img(cv::Rect(0, 0, 10, 10)).setTo(cv::Scalar(0, 255, 0));  // the far left quarter: green
  cv::Mat r = resize_for_model(img, o);
  EXPECT_EQ(r.size(), cv::Size(10, 10));
  for (int x = 0; x < 10; ++x)
    EXPECT_EQ(r.at<cv::Vec3b>(5, x)[1], 0) << "green quarter must be cut, x=" << x;
  EXPECT_EQ(r.at<cv::Vec3b>(5, 0), cv::Vec3b(255, 0, 0));
  EXPECT_EQ(r.at<cv::Vec3b>(5, 9), cv::Vec3b(0, 0, 255));
}

TEST(ResizeForModel, LetterboxPadsWithTheMeanColour) {
  PreprocessOptions o;
  o.width = o.height = 20;
  o.resize = ResizePolicy::kLetterbox;
  auto t = to_tensor(halves(40, 10), o);  // scaled to 20x5, padded to 20x20
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{1, 3, 20, 20}));
  EXPECT_NEAR(t[0].select(1, 0).abs().max().item<float>(), 0.0f, 0.01f) << "top row is padding";
  EXPECT_NEAR(t[0][0][10][2].item<float>(), 1.0f, 1e-6) << "middle row is the image";
}

TEST(ToBatch, StacksImages) {
  PreprocessOptions o;
  o.width = o.height = 8;
  auto t = to_batch({halves(8, 8), halves(16, 4), halves(3, 3)}, o);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 3, 8, 8}));
}

TEST(ResizeForModel, RefusesAnEmptyImage) {
  EXPECT_THROW(resize_for_model(cv::Mat(), PreprocessOptions{}), Error);
}

}  // namespace
}  // namespace glimpse::vision
