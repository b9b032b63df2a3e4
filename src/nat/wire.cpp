// The nat frame bodies (frame kind 7, docs/PROTOCOL.md §19).
#include "core/codec.hpp"
#include "discovery/address_codec.hpp"
#include "nat/wire.hpp"

#include <optional>

namespace topicswarm::nat::wire {

namespace {
void put_nonce(core::byte_writer& w, const nonce& n) { w.put(byte_span(n.data(), n.size())); }
nonce get_nonce(core::byte_reader& r) {
  nonce n{};
  r.get(std::span<std::byte>(n.data(), n.size()));
  return n;
}
node_id get_id(core::byte_reader& r) {
  node_id id;
  r.get(id.writable());
  return id;
}
token get_token(core::byte_reader& r) {
  token t{};
  r.get(std::span<std::byte>(t.data(), t.size()));
  return t;
}
// A punch phase, or nothing for a byte that names none.
std::optional<punch_phase> get_phase(core::byte_reader& r) {
  const auto v = r.get_u8();
  if (v < static_cast<std::uint8_t>(punch_phase::connect) || v > static_cast<std::uint8_t>(punch_phase::sync))
    return std::nullopt;
  return static_cast<punch_phase>(v);
}
}  // namespace

void encode_to(bytes& out, const message& m) {
  core::byte_writer w(out);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, observed>) {
          w.put_u8(observed_type);
          discovery::encode_endpoint(w, v.address);
        } else if constexpr (std::is_same_v<T, dialback_request>) {
          w.put_u8(request_type);
          put_nonce(w, v.n);
          w.put_u16(v.port);
        } else if constexpr (std::is_same_v<T, dialback_result>) {
          w.put_u8(result_type);
          put_nonce(w, v.n);
          w.put_u8(static_cast<std::uint8_t>(v.code));
        } else if constexpr (std::is_same_v<T, dialback_proof>) {
          w.put_u8(proof_type);
          put_nonce(w, v.n);
        } else if constexpr (std::is_same_v<T, reverse_request>) {
          w.put_u8(reverse_request_type);
          w.put(v.target.span());
          w.put_u16(v.port);
        } else if constexpr (std::is_same_v<T, reverse_answer>) {
          w.put_u8(reverse_answer_type);
          w.put(v.target.span());
          w.put_u8(static_cast<std::uint8_t>(v.code));
        } else if constexpr (std::is_same_v<T, reverse>) {
          w.put_u8(reverse_type);
          w.put(v.from.span());
          discovery::encode_endpoint(w, v.address);
        } else if constexpr (std::is_same_v<T, punch_request>) {
          w.put_u8(punch_request_type);
          w.put(v.target.span());
          w.put_u16(v.port);
          w.put_u8(static_cast<std::uint8_t>(v.phase));
          w.put_u32(v.round);
        } else if constexpr (std::is_same_v<T, punch>) {
          w.put_u8(punch_type);
          w.put(v.from.span());
          discovery::encode_endpoint(w, v.address);
          w.put_u8(static_cast<std::uint8_t>(v.phase));
          w.put_u32(v.round);
        } else if constexpr (std::is_same_v<T, punch_answer>) {
          w.put_u8(punch_answer_type);
          w.put(v.target.span());
          w.put_u32(v.round);
          w.put_u8(static_cast<std::uint8_t>(v.code));
        } else if constexpr (std::is_same_v<T, relay_request>) {
          w.put_u8(relay_request_type);
          w.put(v.target.span());
          w.put(byte_span(v.tok.data(), v.tok.size()));
        } else if constexpr (std::is_same_v<T, relay_offer>) {
          w.put_u8(relay_offer_type);
          w.put(v.from.span());
          w.put(byte_span(v.tok.data(), v.tok.size()));
          w.put_u16(v.port);
          discovery::encode_endpoint(w, v.seen);
        } else {
          w.put_u8(relay_answer_type);
          w.put(v.target.span());
          w.put(byte_span(v.tok.data(), v.tok.size()));
          w.put_u8(static_cast<std::uint8_t>(v.code));
          w.put_u16(v.port);
          if (v.seen) discovery::encode_endpoint(w, *v.seen);
        }
      },
      m);
}

bytes encode(const message& m) {
  bytes out;
  encode_to(out, m);
  return out;
}

result<message> decode(byte_span body) {
  const auto bad = [](const char* why) { return result<message>(errc::malformed_message, why); };
  if (body.empty()) return bad("empty nat frame");
  core::byte_reader r(body.subspan(1));
  message m;
  switch (static_cast<std::uint8_t>(body[0])) {
    case observed_type: {
      auto a = discovery::decode_endpoint(r);
      if (!a) return bad("nat observed: bad address");
      m = observed{*a};
      break;
    }
    case request_type: {
      dialback_request q;
      q.n = get_nonce(r);
      q.port = r.get_u16();
      if (r.ok() && q.port == 0) return bad("nat dial-back request for port 0");
      m = q;
      break;
    }
    case result_type: {
      dialback_result a;
      a.n = get_nonce(r);
      const auto code = r.get_u8();
      if (r.ok() && code > static_cast<std::uint8_t>(dialback_code::failed)) return bad("nat dial-back result: unknown code");
      a.code = static_cast<dialback_code>(code);
      m = a;
      break;
    }
    case proof_type:
      m = dialback_proof{get_nonce(r)};
      break;
    case reverse_request_type: {
      reverse_request q;
      q.target = get_id(r);
      q.port = r.get_u16();
      if (r.ok() && q.port == 0) return bad("nat reverse request for port 0");
      m = q;
      break;
    }
    case reverse_answer_type: {
      reverse_answer a;
      a.target = get_id(r);
      const auto code = r.get_u8();
      if (r.ok() && code > static_cast<std::uint8_t>(reverse_code::refused)) return bad("nat reverse answer: unknown code");
      a.code = static_cast<reverse_code>(code);
      m = a;
      break;
    }
    case reverse_type: {
      reverse v;
      v.from = get_id(r);
      auto a = discovery::decode_endpoint(r);
      if (!a) return bad("nat reverse: bad address");
      v.address = *a;
      m = v;
      break;
    }
    case punch_request_type: {
      punch_request q;
      q.target = get_id(r);
      q.port = r.get_u16();
      const auto phase = get_phase(r);
      q.round = r.get_u32();
      if (r.ok() && q.port == 0) return bad("nat punch request for port 0");
      if (r.ok() && !phase) return bad("nat punch request: unknown phase");
      if (phase) q.phase = *phase;
      m = q;
      break;
    }
    case punch_type: {
      punch v;
      v.from = get_id(r);
      auto a = discovery::decode_endpoint(r);
      if (!a) return bad("nat punch: bad address");
      v.address = *a;
      const auto phase = get_phase(r);
      v.round = r.get_u32();
      if (r.ok() && !phase) return bad("nat punch: unknown phase");
      if (phase) v.phase = *phase;
      m = v;
      break;
    }
    case punch_answer_type: {
      punch_answer a;
      a.target = get_id(r);
      a.round = r.get_u32();
      const auto code = r.get_u8();
      if (r.ok() && (code == static_cast<std::uint8_t>(reverse_code::forwarded) ||
                     code > static_cast<std::uint8_t>(reverse_code::refused)))
        return bad("nat punch answer: unknown code");
      a.code = static_cast<reverse_code>(code);
      m = a;
      break;
    }
    case relay_request_type: {
      relay_request q;
      q.target = get_id(r);
      q.tok = get_token(r);
      m = q;
      break;
    }
    case relay_offer_type: {
      relay_offer o;
      o.from = get_id(r);
      o.tok = get_token(r);
      o.port = r.get_u16();
      if (r.ok() && o.port == 0) return bad("nat relay offer for port 0");
      auto seen = discovery::decode_endpoint(r);
      if (!seen) return bad("nat relay offer: bad seen address");
      o.seen = *seen;
      m = o;
      break;
    }
    case relay_answer_type: {
      relay_answer a;
      a.target = get_id(r);
      a.tok = get_token(r);
      const auto code = r.get_u8();
      a.port = r.get_u16();
      if (r.ok() && code > static_cast<std::uint8_t>(reverse_code::refused)) return bad("nat relay answer: unknown code");
      a.code = static_cast<reverse_code>(code);
      if (r.ok() && (a.code == reverse_code::forwarded) != (a.port != 0))
        return bad("nat relay answer: a port goes with code 0 only");
      if (r.ok() && a.code == reverse_code::forwarded) {
        auto seen = discovery::decode_endpoint(r);
        if (!seen) return bad("nat relay answer: bad seen address");
        a.seen = *seen;
      }
      m = a;
      break;
    }
    default:
      return bad("nat frame of an unknown type");
  }
  if (!r.at_end()) return bad("nat frame of the wrong length");
  return m;
}

}  // namespace topicswarm::nat::wire
