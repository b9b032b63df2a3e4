// delay_link: a userspace link that delays every IP packet by a fixed time.
//
// The kernel on the test machines has no netem, so the fault tests emulate
// latency here. The tool opens a TUN device (IFF_TUN | IFF_NO_PI: raw IP
// packets), and every packet the kernel routes into it is held for --delay-ms
// and then written back into the same device, where the kernel receives it as
// if it had arrived on that interface and routes it on. The fault harness
// (tests/faults/lib.sh) runs it in the hub "router" namespace and uses policy
// routing so that each forwarded packet enters the device exactly once per
// direction: packets from the node-facing bridge are routed into the device,
// packets coming out of it follow the main table to their destination.
//
// Invariants:
// - The delay is constant, so a FIFO keeps the packets in due order and
//   nothing is reordered.
// - The queue is bounded (--max-packets, --max-bytes): a packet that does not
//   fit is dropped and counted, like a full router queue, never buffered
//   without limit.
// - SIGTERM / SIGINT end the loop; the packets still queued are dropped (the
//   link goes down) and one JSON line with the counters goes to stdout.
//
// No library dependency: POSIX, Linux TUN ioctls and the standard library.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

struct options {
  std::string dev = "dly0";
  std::chrono::microseconds delay{50'000};
  std::size_t max_packets = 4096;
  std::size_t max_bytes = 8u << 20;
};

struct held_packet {
  steady::time_point due;
  std::vector<unsigned char> data;
};

struct counters {
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t dropped_write_error = 0;
  std::uint64_t dropped_at_exit = 0;
  std::size_t max_queue_packets = 0;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr,
               "delay_link: %s\n"
               "usage: delay_link [--dev NAME] [--delay-ms MS] [--max-packets N] [--max-bytes N]\n"
               "  Creates TUN device NAME (default dly0), prints one \"ready\" line, then delays every\n"
               "  packet routed into it by MS milliseconds (default 50) and writes it back. Packets that\n"
               "  do not fit in the queue (default 4096 packets / 8 MiB) are dropped. SIGTERM ends it.\n",
               what.c_str());
  std::exit(2);
}

// A non-negative integer argument, whole string, no sign, within max.
unsigned long long parse_count(std::string_view name, const char* s, unsigned long long max) {
  errno = 0;
  char* end = nullptr;
  const auto v = std::strtoull(s, &end, 10);
  if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v > max)
    usage_error("bad " + std::string(name) + " \"" + s + "\"");
  return v;
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage_error("missing value after " + std::string(a));
    const char* v = argv[++i];
    if (a == "--dev") {
      o.dev = v;
      if (o.dev.empty() || o.dev.size() >= IFNAMSIZ) usage_error("bad --dev (1 to 15 characters)");
    } else if (a == "--delay-ms") {
      o.delay = std::chrono::milliseconds(parse_count(a, v, 60'000));
    } else if (a == "--max-packets") {
      o.max_packets = parse_count(a, v, 1'000'000);
      if (o.max_packets == 0) usage_error("--max-packets must be at least 1");
    } else if (a == "--max-bytes") {
      o.max_bytes = parse_count(a, v, 1ull << 30);
    } else {
      usage_error("unknown option " + std::string(a));
    }
  }
  return o;
}

// Opens (creates) the TUN device; non-persistent, so it disappears with us.
int open_tun(const std::string& name) {
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "delay_link: open /dev/net/tun: %s\n", std::strerror(errno));
    std::exit(1);
  }
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    std::fprintf(stderr, "delay_link: TUNSETIFF %s: %s\n", name.c_str(), std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

// SIGTERM / SIGINT arrive on a descriptor, so one poll() waits for packets,
// the next due time and the stop request alike.
int open_signalfd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0) {
    std::perror("delay_link: sigprocmask");
    std::exit(1);
  }
  const int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    std::perror("delay_link: signalfd");
    std::exit(1);
  }
  return fd;
}

class delay_queue {
 public:
  explicit delay_queue(const options& o) : opts_(o) {}

  // Queues a packet read now; false (and counted) when the queue is full.
  bool push(const unsigned char* p, std::size_t n, steady::time_point now, counters& c) {
    ++c.packets_in;
    if (q_.size() >= opts_.max_packets || bytes_ + n > opts_.max_bytes) {
      ++c.dropped_queue_full;
      return false;
    }
    q_.push_back(held_packet{now + opts_.delay, std::vector<unsigned char>(p, p + n)});
    bytes_ += n;
    if (q_.size() > c.max_queue_packets) c.max_queue_packets = q_.size();
    return true;
  }

  // Writes every packet that is due by `now` back into the device.
  void release_due(int tun, steady::time_point now, counters& c) {
    while (!q_.empty() && q_.front().due <= now) {
      const auto& pkt = q_.front().data;
      const ssize_t w = ::write(tun, pkt.data(), pkt.size());
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // try again on the next turn
      if (w == static_cast<ssize_t>(pkt.size())) {
        ++c.packets_out;
        c.bytes_out += pkt.size();
      } else {
        ++c.dropped_write_error;  // e.g. no route back for this packet: the kernel refused it
      }
      bytes_ -= pkt.size();
      q_.pop_front();
    }
  }

  // Milliseconds poll() may sleep before the head packet is due (-1: empty).
  // Rounded up, so a wake-up is never early by more than the clock's grain.
  int wait_ms(steady::time_point now) const {
    if (q_.empty()) return -1;
    const auto left = q_.front().due - now;
    if (left <= steady::duration::zero()) return 0;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
    return static_cast<int>((us + 999) / 1000);
  }

  std::size_t size() const { return q_.size(); }

 private:
  const options& opts_;
  std::deque<held_packet> q_;
  std::size_t bytes_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const options opts = parse_args(argc, argv);
  const int sfd = open_signalfd();
  const int tun = open_tun(opts.dev);
  std::printf("{\"event\":\"ready\",\"dev\":\"%s\",\"delay_ms\":%lld,\"max_packets\":%zu}\n", opts.dev.c_str(),
              static_cast<long long>(opts.delay.count() / 1000), opts.max_packets);
  std::fflush(stdout);

  delay_queue queue(opts);
  counters c;
  std::vector<unsigned char> buf(65536);
  bool stopping = false;
  while (!stopping) {
    pollfd fds[2] = {{tun, POLLIN, 0}, {sfd, POLLIN, 0}};
    const int r = ::poll(fds, 2, queue.wait_ms(steady::now()));
    if (r < 0 && errno != EINTR) {
      std::perror("delay_link: poll");
      return 1;
    }
    if (r > 0 && (fds[1].revents & POLLIN)) stopping = true;
    if (r > 0 && (fds[0].revents & POLLIN)) {
      // Drain what is there now, bounded so that due packets are not starved
      // by a flood.
      for (int i = 0; i < 256; ++i) {
        const ssize_t n = ::read(tun, buf.data(), buf.size());
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
          std::perror("delay_link: read");
          return 1;
        }
        if (n == 0) break;
        queue.push(buf.data(), static_cast<std::size_t>(n), steady::now(), c);
      }
    }
    queue.release_due(tun, steady::now(), c);
  }
  c.dropped_at_exit = queue.size();
  std::printf(
      "{\"event\":\"stopped\",\"dev\":\"%s\",\"packets_in\":%llu,\"packets_out\":%llu,\"bytes_out\":%llu,"
      "\"dropped_queue_full\":%llu,\"dropped_write_error\":%llu,\"dropped_at_exit\":%llu,\"max_queue_packets\":%zu}\n",
      opts.dev.c_str(), static_cast<unsigned long long>(c.packets_in), static_cast<unsigned long long>(c.packets_out),
      static_cast<unsigned long long>(c.bytes_out), static_cast<unsigned long long>(c.dropped_queue_full),
      static_cast<unsigned long long>(c.dropped_write_error), static_cast<unsigned long long>(c.dropped_at_exit),
      c.max_queue_packets);
  std::fflush(stdout);
  ::close(tun);
  ::close(sfd);
  return 0;
}
