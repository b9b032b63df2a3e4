// Uses the installed library's public API only: ids, identity, records.
#include <topicswarm/identity.hpp>
#include <topicswarm/record.hpp>

#include <cstdio>

int main() {
  using namespace topicswarm;
  auto topic = topic_id_from_name("consumer");
  auto key = hash_secret(topic, std::string_view("s"));
  if (!key) return 1;
  record_codec codec(topic, *key);
  auto me = identity::generate();
  topic_record r;
  r.topic = topic;
  r.window = 42;
  r.publisher = me.id();
  r.timestamp_ms = 42 * 60'000 + 1;
  auto sealed = codec.seal(r, me, 0);
  if (!sealed) return 1;
  auto opened = codec.open(*sealed, 42, 0, static_cast<std::int64_t>(r.timestamp_ms));
  if (!opened || opened->publisher != me.id()) return 1;
  std::printf("consumer: sealed and opened a %zu-byte record for %s\n", sealed->size(), me.id().short_string().c_str());
  return 0;
}
