// Admission: the sans-IO core that proves, per connection, that a peer holds
// a topic's key before any of its frames for that topic are accepted
// (docs/PROTOCOL.md §12, issue 13).
//
// Each side proves itself with a MAC keyed by the topic's admission key over
// the connection's TLS exporter value (RFC 8446 §7.5), the prover's and the
// verifier's node ids and the wire topic id. The exporter is unique to one
// TLS connection, so a proof copied to another connection (or reflected back
// to its sender: the ids are ordered) does not verify. Mutual: a valid proof
// is answered with ours on the same connection, and neither side sends a
// topic's frames to a peer that has not proven the topic to it.
//
// The state is per peer: TLS authenticates the peer's node id on every
// connection, so a proof verified on any connection to that id admits that
// id until its connection closes (link_down). A proof is always verified
// with the exporter of the connection it arrived on, and computed with the
// exporter of the connection it will be sent on: out::send carries no link,
// the driver sends it on the peer's active link, so an answer to a proof
// that arrived on a retired duplicate is computed for the active link.
//
// Bounded: admitted topics per peer are bounded by our own topics; a peer
// is kept only while it has a link or a want; a peer that sends more than
// `max_failures` bad or unknown-topic proofs, or malformed admission frames,
// is closed; a connection that has no admitted topic `admission_timeout`
// after it came up is closed.
#pragma once

#include "core/effects.hpp"
#include "core/time.hpp"

#include <topicswarm/bytes.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/record.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <variant>
#include <vector>

namespace topicswarm::admission {

using core::duration;
using core::instant;

struct exporter_tag {};
// The TLS exporter value of one connection (label "EXPORTER-topicswarm-admission-v2", no context, 32 bytes).
using exporter = fixed_bytes<32, exporter_tag>;
struct admission_key_tag {};
// H("topicswarm/admission-key/v2" || wire_topic || secret_hash)[0..32]
using admission_key = fixed_bytes<32, admission_key_tag>;
using mac = std::array<std::byte, 32>;

admission_key admission_key_for(const topic_id& wire_topic, const secret_hash& key);

// HMAC-SHA-256(key, "topicswarm/admission/v2" || exporter || prover || verifier || wire_topic)
mac proof_for(const admission_key& key, const exporter& ex, const node_id& prover, const node_id& verifier,
              const topic_id& wire_topic);
// Constant-time comparison against the expected proof.
bool verify_proof(const admission_key& key, const exporter& ex, const node_id& prover, const node_id& verifier,
                  const topic_id& wire_topic, const mac& proof);

// ------------------------------------------------------------------- wire --
// Bodies of frame kind 6 (admission); docs/PROTOCOL.md §12.
namespace wire {
// "I hold this topic's key": type 0x01 || wire topic (32) || mac (32).
struct proof {
  topic_id topic;
  mac tag{};
  friend bool operator==(const proof&, const proof&) = default;
};
// "I will not take part in this topic with you" (unknown topic or a proof
// that does not verify; one reason, so a refusal says nothing more):
// type 0x02 || wire topic (32).
struct refuse {
  topic_id topic;
  friend bool operator==(const refuse&, const refuse&) = default;
};
using message = std::variant<proof, refuse>;

inline constexpr std::uint8_t proof_type = 0x01;
inline constexpr std::uint8_t refuse_type = 0x02;
inline constexpr std::size_t proof_size = 1 + 32 + 32;
inline constexpr std::size_t refuse_size = 1 + 32;

bytes encode(const message& m);
void encode_to(bytes& out, const message& m);
// errc::malformed_message for an unknown type or a wrong length.
result<message> decode(byte_span body);
}  // namespace wire

// ------------------------------------------------------------------ state --

struct config {
  // A connection with no topic the peer proved this long after it came up
  // is closed; a topic we asked a peer for (want) and it has not proven by
  // then is given up (out::refused, reason timeout), counted from the want
  // or, when the peer was still being dialled, from its link coming up.
  duration admission_timeout = std::chrono::seconds(5);
  // A want made while the peer is still being dialled waits at most this
  // long for its link (the transport's own bounds end a dial sooner: connect
  // timeouts, a reversal's wait of 10 s, a hole punch's window of 5 s).
  duration dial_allowance = std::chrono::seconds(30);
  // Bad proofs, proofs for topics we are not in, and malformed admission
  // frames a peer may send before we close it. Counted per peer until its
  // last connection closes: a replacement link does not reset the count.
  std::uint32_t max_failures = 16;
};

// One TLS connection to a peer: its transport id (never reused) and exporter.
struct link {
  std::uint64_t id = 0;
  exporter secret;
};

struct timer {
  enum class kind : std::uint8_t { link_deadline, want_deadline } k = kind::link_deadline;
  node_id peer;
  std::uint64_t link = 0;  // link_deadline: the connection it was set for
  topic_id topic;          // want_deadline
  // want_deadline: which want it was set for. A topic can be wanted again
  // (after a refusal, a link_down) before an older deadline is due; that
  // one must not end the new want early.
  std::uint64_t want = 0;
};

namespace in {
// A connection to `peer` became its active one (first, or a replacement):
// proofs owed to pending wants are sent on it.
struct link_up { node_id peer; admission::link l; };
// The peer's last connection closed (or dialling it failed): its admissions
// and wants are forgotten (no out::refused: the driver tells its cores itself).
// Its pending timers then do nothing.
struct link_down { node_id peer; };
// An admission frame from `peer`, arrived on `l`.
struct received { node_id peer; admission::link l; wire::message msg; };
// An admission frame that did not decode.
struct malformed { node_id peer; };
// We want to exchange `topic`'s frames with `peer`: prove it on `l` (its
// active connection) now, or on link_up when it has none yet. Answered at
// once with out::admitted if the peer proved the topic already; ignored for
// a topic we are not in.
struct want { node_id peer; topic_id topic; std::optional<admission::link> l; };
struct timer_fired { admission::timer t; };
using input = std::variant<link_up, link_down, received, malformed, want, timer_fired>;
}  // namespace in

enum class refusal : std::uint8_t { refused_by_peer, timeout, topic_left };

namespace out {
using send = core::effect::send<wire::message>;
// `peer` proved `topic`: its frames for it are accepted now, and frames
// held for it may go.
struct admitted { node_id peer; topic_id topic; };
// `peer` will not exchange `topic` with us (it refused, or did not prove it
// in time): drop what is held for it.
struct refused { node_id peer; topic_id topic; refusal why; };
// Close the connection to `peer` (no admitted topic in time; too many failures).
struct close { node_id peer; error why; };
using schedule = core::effect::schedule<timer>;
using output = std::variant<send, admitted, refused, close, schedule>;
}  // namespace out

struct counters {
  std::uint64_t proofs_sent = 0;
  std::uint64_t proofs_accepted = 0;       // valid proofs: a peer admitted for a topic
  std::uint64_t proofs_invalid = 0;        // MAC did not verify (wrong key, another connection's proof)
  std::uint64_t proofs_unknown_topic = 0;  // for a topic we are not in
  std::uint64_t malformed = 0;             // admission frames that did not decode
  std::uint64_t refusals_sent = 0, refusals_received = 0;
  std::uint64_t want_timeouts = 0;         // topics a peer did not prove in time
  std::uint64_t closed_no_topic = 0;       // connections closed with no admitted topic in time
  std::uint64_t closed_failures = 0;       // connections closed after max_failures
};

class state {
 public:
  state(node_id me, config cfg);

  // Our topics and their keys. Removing one forgets its admissions and
  // answers its pending wants with refused{topic_left}.
  void add_topic(const topic_id& wire_topic, const secret_hash& key);
  void remove_topic(const topic_id& wire_topic, std::vector<out::output>& out);
  bool has_topic(const topic_id& wire_topic) const { return topics_.contains(wire_topic); }

  // Whether `peer` proved `topic` to us (its frames for it are accepted; we
  // may send it ours: we answered its proof, or it answered ours).
  bool admitted(const node_id& peer, const topic_id& topic) const;
  // Whether `peer` proved at least one topic.
  bool any_admitted(const node_id& peer) const;

  void handle(in::input input, instant now, std::vector<out::output>& out);

  const counters& stats() const noexcept { return counters_; }
  std::size_t peers() const noexcept { return peers_.size(); }
  // Whether a timer would still do anything when it fires (a driver drops
  // the others: a left topic or a closed link holds no timers).
  bool timer_applies(const timer& t) const;

 private:
  struct peer_state {
    std::set<topic_id> proven;                   // topics the peer proved to us
    std::map<topic_id, std::uint64_t> sent_on;   // topics we proved, and the link we proved them on
    std::map<topic_id, std::uint64_t> wanted;    // topics we asked for and wait on -> timer::want
    std::uint32_t failures = 0;
    std::optional<admission::link> active;       // the last link_up (none yet: dialling)
  };
  void send_proof(const node_id& peer, peer_state& p, const topic_id& topic, const link& l, std::vector<out::output>& out);
  // Drops a peer with no link, no want and no admission: what is left of a
  // dial that never connected, once its wants are answered.
  void forget_if_idle(std::map<node_id, peer_state>::iterator it);
  void on_received(const in::received& in, std::vector<out::output>& out);
  void on_timer(const timer& t, std::vector<out::output>& out);
  // A bad proof or a malformed frame: the peer is closed past max_failures.
  void fail(const node_id& peer, std::vector<out::output>& out);

  node_id me_;
  config cfg_;
  std::map<topic_id, admission_key> topics_;
  std::map<node_id, peer_state> peers_;
  std::uint64_t next_want_ = 1;
  counters counters_;
};

}  // namespace topicswarm::admission
