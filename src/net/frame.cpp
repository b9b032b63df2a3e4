#include "net/frame.hpp"

#include <cstring>
#include <iterator>
#include <string>

namespace topicswarm::net {

static_assert(static_cast<int>(frame_kind::relay) == 8, "kind_name's table lists kinds 0 ..= 8");

const char* kind_name(frame_kind kind) noexcept {
  // Indexed by the kind's value: the assigned kinds are 0 ..= 8 (frame.hpp).
  static constexpr const char* assigned[] = {"gossip",  "keepalive", "hello", "ping", "pong",
                                             "catalog", "admission", "nat",   "relay"};
  const auto k = static_cast<std::size_t>(kind);
  if (k < std::size(assigned)) return assigned[k];
  return kind >= frame_kind::experimental_first ? "experimental" : "unassigned";
}

std::string describe(frame_kind kind) {
  return "kind " + std::to_string(static_cast<unsigned>(kind)) + " (" + kind_name(kind) + ")";
}

std::size_t begin_frame(bytes& out, frame_kind kind) {
  const std::size_t start = out.size();
  out.resize(start + frame_header_size);
  out.push_back(static_cast<std::byte>(kind));
  return start;
}

void end_frame(bytes& out, std::size_t start) {
  const auto len = static_cast<std::uint32_t>(out.size() - start - frame_header_size);
  for (int i = 0; i < 4; ++i) out[start + static_cast<std::size_t>(i)] = static_cast<std::byte>((len >> (24 - 8 * i)) & 0xff);
}

void append_frame(bytes& out, frame_kind kind, byte_span body) {
  const std::size_t start = begin_frame(out, kind);
  out.insert(out.end(), body.begin(), body.end());
  end_frame(out, start);
}

std::span<std::byte> frame_reader::prepare(std::size_t n) {
  // Move the unread tail to the front once the consumed prefix dominates, so
  // the buffer stays within max frame + one read.
  if (begin_ > 0 && (begin_ == end_ || begin_ >= buf_.size() / 2)) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() < end_ + n) buf_.resize(end_ + n);
  return {buf_.data() + end_, n};
}

void frame_reader::commit(std::size_t n) { end_ += n; }

result<std::optional<byte_span>> frame_reader::next() {
  const std::size_t avail = end_ - begin_;
  if (avail < frame_header_size) return std::optional<byte_span>{};
  const std::byte* p = buf_.data() + begin_;
  const std::uint32_t len = (std::to_integer<std::uint32_t>(p[0]) << 24) | (std::to_integer<std::uint32_t>(p[1]) << 16) |
                            (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
  if (len == 0) return {errc::malformed_message, "frame of length 0"};
  if (len > max_payload_)
    return {errc::message_too_large,
            "frame of " + std::to_string(len) + " bytes exceeds the maximum of " + std::to_string(max_payload_)};
  if (avail < frame_header_size + len) return std::optional<byte_span>{};
  begin_ += frame_header_size + len;
  return std::optional<byte_span>{byte_span(p + frame_header_size, len)};
}

}  // namespace topicswarm::net
