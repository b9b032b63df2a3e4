// core::timer_queue: the one timer queue every driver uses (issue 12).
#include "core/timer_queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

using namespace topicswarm;
using core::from_micros;

namespace {

TEST(TimerQueue, EmptyHasNoDeadlineAndNothingDue) {
  core::timer_queue<int> q;
  EXPECT_FALSE(q.next().has_value());
  EXPECT_TRUE(q.take_due(from_micros(1'000'000)).empty());
  EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, FiresByDeadlineThenInInsertionOrder) {
  core::timer_queue<std::string> q;
  q.add(from_micros(30), "c");
  q.add(from_micros(10), "a1");
  q.add(from_micros(20), "b");
  q.add(from_micros(10), "a2");  // same deadline as a1, added later: fires after it
  ASSERT_TRUE(q.next().has_value());
  EXPECT_EQ(*q.next(), from_micros(10));
  EXPECT_EQ(q.take_due(from_micros(9)).size(), 0u);
  EXPECT_EQ(q.take_due(from_micros(20)), (std::vector<std::string>{"a1", "a2", "b"}));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(*q.next(), from_micros(30));
  EXPECT_EQ(q.take_due(from_micros(100)), (std::vector<std::string>{"c"}));
  EXPECT_FALSE(q.next().has_value());
}

TEST(TimerQueue, TimersAddedWhileHandlingWaitForTheNextCall) {
  core::timer_queue<int> q;
  q.add(from_micros(5), 1);
  auto due = q.take_due(from_micros(5));
  ASSERT_EQ(due.size(), 1u);
  q.add(from_micros(5), 2);  // a handler re-arms at once: not part of `due`
  EXPECT_EQ(due.size(), 1u);
  EXPECT_EQ(q.take_due(from_micros(5)), (std::vector<int>{2}));
}

TEST(TimerQueue, EraseIfForgetsTheTimersOfWhatIsGone) {
  // Tokens of the shape drivers use: an owner (a topic) and the core's timer.
  struct token {
    int topic;
    std::variant<int, std::string> t;
  };
  core::timer_queue<token> q;
  q.add(from_micros(1), token{1, 7});
  q.add(from_micros(2), token{2, std::string("x")});
  q.add(from_micros(3), token{1, std::string("y")});
  EXPECT_EQ(q.erase_if([](const token& k) { return k.topic == 1; }), 2u);
  auto due = q.take_due(from_micros(10));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].topic, 2);
  EXPECT_EQ(std::get<std::string>(due[0].t), "x");
}

}  // namespace
