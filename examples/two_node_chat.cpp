// two_node_chat: the smallest complete use of topicswarm.
//
// Two nodes, "alice" and "bob", run in this one process on 127.0.0.1. Both
// subscribe to the topic "two-node-chat"; bob joins through alice's address
// (in real use that address comes from the DHT or from the command line).
// Once they are neighbours each says a few lines, and each prints what it
// hears. Exit status 0 means every line arrived; the whole run is bounded
// (< 15 s) by the timeouts below.
//
// Only the public API is used: <topicswarm/node.hpp> and Asio.
#include <topicswarm/node.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using namespace topicswarm;
using namespace std::chrono_literals;

namespace {

// One side of the conversation: its node, its two topic halves and what it says.
struct person {
  const char* name;
  node n;
  sender tx;
  receiver rx;
  std::vector<std::string> lines;
};

// Starts a node that listens on loopback only (port 0: the OS picks one).
node start_node(const char* name) {
  node_config cfg;
  cfg.listen = {*endpoint::parse("127.0.0.1:0")};
  auto n = node::start(std::move(cfg));
  if (!n) {
    std::fprintf(stderr, "%s: cannot start a node: %s\n", name, n.error().message().c_str());
    std::exit(1);
  }
  return std::move(*n);
}

// Receives until every line in `want` arrived or `deadline` passed, printing
// each message. Returns the lines that never came.
asio::awaitable<std::set<std::string>> listen(person& me, std::set<std::string> want,
                                              std::chrono::steady_clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  while (!want.empty()) {
    // Wait for the next event, but not past the deadline: whichever comes
    // first wins and the other is cancelled.
    auto next = (me.rx.next() || timer.async_wait(asio::use_awaitable));
    auto r = co_await std::move(next);
    if (r.index() == 1) break;  // deadline
    auto& ev = std::get<0>(r);
    if (!ev) {
      std::printf("[%s] receiving failed: %s\n", me.name, ev.error().message().c_str());
      break;
    }
    if (auto* msg = std::get_if<events::received>(&*ev)) {
      // delivered_from is the neighbour that handed the message over; with
      // two nodes that is always its author.
      auto text = to_string(byte_span(msg->content));
      std::printf("[%s] %s: %s\n", me.name, msg->delivered_from.short_string().c_str(), text.c_str());
      want.erase(text);
    }
    // neighbor_up / neighbor_down / lagged are not needed here.
  }
  co_return want;
}

// (Coroutine style note: GCC 12 mishandles non-trivial temporaries inside a
// co_await expression, so arguments are built as named locals first.)
asio::awaitable<bool> chat(person& alice, person& bob) {
  person* const both[] = {&alice, &bob};
  // subscribe() returned at once; wait until each side has a neighbour.
  for (person* p : both) {
    auto joined = co_await p->rx.joined(5s);
    if (!joined) {
      std::printf("[%s] could not join: %s\n", p->name, joined.error().message().c_str());
      co_return false;
    }
    std::printf("[%s] joined; neighbours: %zu\n", p->name, p->rx.neighbors().size());
  }

  // Each says its lines. A receiver queues events from the moment it was
  // made, so nothing is lost by sending everything before listening.
  for (person* p : both) {
    for (const auto& line : p->lines) {
      auto content = to_bytes(line);
      auto sent = co_await p->tx.broadcast(std::move(content));
      if (!sent) {
        std::printf("[%s] broadcast failed: %s\n", p->name, sent.error().message().c_str());
        co_return false;
      }
    }
  }

  const auto deadline = std::chrono::steady_clock::now() + 5s;
  bool all_arrived = true;
  for (person* p : both) {
    const person& other = p == &alice ? bob : alice;
    std::set<std::string> want(other.lines.begin(), other.lines.end());
    auto listening = listen(*p, std::move(want), deadline);
    auto missed = co_await std::move(listening);
    for (const auto& line : missed) std::printf("[%s] never received: %s\n", p->name, line.c_str());
    all_arrived = all_arrived && missed.empty();
  }
  co_return all_arrived;
}

}  // namespace

int main() {
  const auto topic = topic_id_from_name("two-node-chat");

  // alice starts the topic alone: no bootstrap peers, others join her.
  node alice_node = start_node("alice");
  auto alice_topic = alice_node.subscribe(topic);
  // bob joins through alice's address (her id plus where she listens).
  node bob_node = start_node("bob");
  auto bob_topic = bob_node.subscribe(topic, {alice_node.address()});
  if (!alice_topic || !bob_topic) {
    std::fprintf(stderr, "cannot subscribe: %s\n",
                 (alice_topic ? bob_topic.error() : alice_topic.error()).message().c_str());
    return 1;
  }
  std::printf("alice is %s\nbob   is %s\n", alice_node.address().to_string().c_str(),
              bob_node.address().to_string().c_str());

  // split() gives a sender and a receiver that can be used independently.
  auto [alice_tx, alice_rx] = std::move(*alice_topic).split();
  auto [bob_tx, bob_rx] = std::move(*bob_topic).split();
  person alice{
      "alice", std::move(alice_node), std::move(alice_tx), std::move(alice_rx), {"hi bob", "how is the swarm?", "bye"}};
  person bob{
      "bob", std::move(bob_node), std::move(bob_tx), std::move(bob_rx), {"hello alice", "small but cosy", "see you"}};

  // The nodes run on their own threads; our coroutines run on this
  // io_context, and every awaited operation completes here.
  asio::io_context io;
  bool ok = false;
  asio::co_spawn(io, chat(alice, bob), [&](std::exception_ptr e, bool r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::printf("error: %s\n", ex.what());
      }
    }
    ok = r;
  });
  io.run();

  std::printf("%s\n", ok ? "two_node_chat: every line arrived" : "two_node_chat: FAILED");
  // Destroying the persons stops the nodes (each leaves the topic first).
  return ok ? 0 : 1;
}
