// Endpoints from text for unit tests: a parse failure fails the test.
#pragma once

#include <topicswarm/endpoint.hpp>

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace topicswarm::test_support {

inline endpoint ep(const std::string& text) {
  auto e = endpoint::parse(text);
  EXPECT_TRUE(e) << text;
  return e ? *e : endpoint{};
}

inline std::vector<endpoint> eps(std::initializer_list<const char*> texts) {
  std::vector<endpoint> v;
  for (const auto* t : texts) v.push_back(ep(t));
  return v;
}

}  // namespace topicswarm::test_support
