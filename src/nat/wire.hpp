// The bodies of frame kind 7 (nat): reachability by dial-back and
// connection reversal (docs/PROTOCOL.md §19). Every message starts with a
// type byte; decode() checks lengths and values and never trusts a field.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/ids.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <variant>

namespace topicswarm::nat {

using nonce = std::array<std::byte, 16>;

// ------------------------------------------------------------------- wire --
// Bodies of frame kind 7 (nat); docs/PROTOCOL.md §19.
namespace wire {
// "Your connection comes from this address, as I see it": type 0x01 ||
// address (family u8, ip 4|16, port be16).
struct observed {
  endpoint address;
  friend bool operator==(const observed&, const observed&) = default;
};
// "Dial me back at the IP you see me at, this port, and send the nonce":
// type 0x02 || nonce (16) || port be16 (not 0).
struct dialback_request {
  nonce n{};
  std::uint16_t port = 0;
  friend bool operator==(const dialback_request&, const dialback_request&) = default;
};
enum class dialback_code : std::uint8_t {
  delivered = 0,  // the probe connection reached the node and carried the nonce
  refused = 1,    // not served: rate limit, or an address we do not dial
  failed = 2,     // connect, TLS (not the requester) or the write failed
};
// The helper's answer, on the requester's connection: type 0x03 || nonce
// (16) || code u8.
struct dialback_result {
  nonce n{};
  dialback_code code = dialback_code::delivered;
  friend bool operator==(const dialback_result&, const dialback_result&) = default;
};
// On a probe connection only: type 0x04 || nonce (16).
struct dialback_proof {
  nonce n{};
  friend bool operator==(const dialback_proof&, const dialback_proof&) = default;
};

// Connection reversal (§19.7). "Ask `target`, which you are connected to,
// to dial me at the IP you see me at and this port": type 0x05 || target
// node id (32) || port be16 (not 0).
struct reverse_request {
  node_id target;
  std::uint16_t port = 0;
  friend bool operator==(const reverse_request&, const reverse_request&) = default;
};
enum class reverse_code : std::uint8_t {
  forwarded = 0,  // the target was asked
  unknown = 1,    // not connected to the target (or it does not speak nat)
  refused = 2,    // not served: rate limit, or the requester is the target
};
// The helper's answer to the requester: type 0x06 || target (32) || code u8.
struct reverse_answer {
  node_id target;
  reverse_code code = reverse_code::forwarded;
  friend bool operator==(const reverse_answer&, const reverse_answer&) = default;
};
// From the helper to the target: "`from` asks you to dial it at `address`"
// (the address is the requester's IP as the helper's connection sees it and
// the port it asked for): type 0x07 || from (32) || address.
struct reverse {
  node_id from;
  endpoint address;
  friend bool operator==(const reverse&, const reverse&) = default;
};

// TCP hole punching (§19.8): the two sides of a punch talk through a helper
// connected to both. Each message names its phase and the punch's round (the
// requester's number for it, echoed by both sides).
enum class punch_phase : std::uint8_t {
  connect = 1,  // requester -> target: "let us punch; dial me here"
  reply = 2,    // target -> requester: "agreed; dial me here" (the requester times the round trip)
  sync = 3,     // requester -> target: "dial now" (the requester dials half a round trip later)
};
// To a helper: "pass this to `target`, with the IP you see me at and this
// port": type 0x08 || target (32) || port be16 (not 0) || phase u8 ||
// round be32.
struct punch_request {
  node_id target;
  std::uint16_t port = 0;
  punch_phase phase = punch_phase::connect;
  std::uint32_t round = 0;
  friend bool operator==(const punch_request&, const punch_request&) = default;
};
// From the helper: "`from` says this; it is at `address`" (the sender's IP
// as the helper's connection sees it, the port it asked for): type 0x09 ||
// from (32) || address || phase u8 || round be32.
struct punch {
  node_id from;
  endpoint address;
  punch_phase phase = punch_phase::connect;
  std::uint32_t round = 0;
  friend bool operator==(const punch&, const punch&) = default;
};
// The helper could not pass a punch_request on (only then is there an
// answer): type 0x0A || target (32) || round be32 || code u8 (unknown or
// refused; never forwarded).
struct punch_answer {
  node_id target;
  std::uint32_t round = 0;
  reverse_code code = reverse_code::unknown;
  friend bool operator==(const punch_answer&, const punch_answer&) = default;
};

// Relaying (§19.9). A circuit's token: random, chosen by the requester.
using token = std::array<std::byte, 16>;
// To a member that may relay: "carry a circuit to `target` under this
// token": type 0x0B || target (32) || token (16).
struct relay_request {
  node_id target;
  wire::token tok{};
  friend bool operator==(const relay_request&, const relay_request&) = default;
};
// From the relay to the target: "`from` wants a circuit to you: connect to
// me at my listen port with this token; I see `from` at `seen`": type 0x0C
// || from (32) || token (16) || port be16 (not 0) || seen (an address).
// `seen` lets the two ends punch later without a helper (§19.10).
struct relay_offer {
  node_id from;
  wire::token tok{};
  std::uint16_t port = 0;
  endpoint seen;
  friend bool operator==(const relay_offer&, const relay_offer&) = default;
};
// The relay's answer to the requester: type 0x0D || target (32) || token
// (16) || code u8 (0 the target was told, 1 unknown, 2 refused) || port be16
// (the relay's listen port; 0 unless the code is 0) || with code 0 only:
// seen (the target's address as the relay sees it).
struct relay_answer {
  node_id target;
  wire::token tok{};
  reverse_code code = reverse_code::forwarded;
  std::uint16_t port = 0;
  std::optional<endpoint> seen;
  friend bool operator==(const relay_answer&, const relay_answer&) = default;
};

using message = std::variant<observed, dialback_request, dialback_result, dialback_proof, reverse_request,
                             reverse_answer, reverse, punch_request, punch, punch_answer, relay_request, relay_offer,
                             relay_answer>;

inline constexpr std::uint8_t observed_type = 0x01;
inline constexpr std::uint8_t request_type = 0x02;
inline constexpr std::uint8_t result_type = 0x03;
inline constexpr std::uint8_t proof_type = 0x04;
inline constexpr std::uint8_t reverse_request_type = 0x05;
inline constexpr std::uint8_t reverse_answer_type = 0x06;
inline constexpr std::uint8_t reverse_type = 0x07;
inline constexpr std::uint8_t punch_request_type = 0x08;
inline constexpr std::uint8_t punch_type = 0x09;
inline constexpr std::uint8_t punch_answer_type = 0x0A;
inline constexpr std::uint8_t relay_request_type = 0x0B;
inline constexpr std::uint8_t relay_offer_type = 0x0C;
inline constexpr std::uint8_t relay_answer_type = 0x0D;

bytes encode(const message& m);
void encode_to(bytes& out, const message& m);
// errc::malformed_message for an unknown type, a wrong length, a bad
// address (family, unspecified ip, port 0), a request for port 0, an
// unknown result or answer code, an unknown punch phase, a punch answer
// that says "forwarded", a relay offer for port 0 or without a valid seen
// address, or a relay answer whose port and seen address do not go with
// its code.
result<message> decode(byte_span body);
}  // namespace wire

}  // namespace topicswarm::nat
