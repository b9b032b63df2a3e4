// completion<T>: one end of an asynchronous API call. The API side creates
// it (call_on_node in node_impl.hpp); the node thread completes it, once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace topicswarm::detail {

// One end of an asynchronous API call: completes once, on the caller's
// executor. Created by call_on_node(); used on the node thread.
template <class T>
class completion {
 public:
  completion() = default;
  explicit completion(std::function<void(T)> fn, std::uint64_t id)
      : s_(std::make_shared<state>(state{std::move(fn), false, id})) {}
  void operator()(T v) const {
    if (!s_ || s_->done) return;
    s_->done = true;
    auto fn = std::move(s_->fn);
    fn(std::move(v));
  }
  bool done() const noexcept { return !s_ || s_->done; }
  std::uint64_t id() const noexcept { return s_ ? s_->id : 0; }

 private:
  struct state {
    std::function<void(T)> fn;
    bool done;
    std::uint64_t id;
  };
  std::shared_ptr<state> s_;
};

}  // namespace topicswarm::detail
