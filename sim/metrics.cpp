#include "sim/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace topicswarm::sim {
namespace {

// Active views as node indices, for live members only (empty otherwise).
std::vector<std::vector<node_index>> active_graph(const simulator& sim, topic_index t, overlay_metrics* om) {
  const std::size_t n = sim.node_count();
  std::vector<std::vector<node_index>> adj(n);
  std::uint64_t passive_total = 0;
  for (node_index u = 0; u < n; ++u) {
    if (!sim.is_member(u, t)) continue;
    for (const auto& id : sim.protocol(u).active_view(sim.topic(t))) adj[u].push_back(sim.index_of(id));
    if (om) passive_total += sim.protocol(u).passive_view(sim.topic(t)).size();
  }
  if (om && om->live == 0) {
    for (node_index u = 0; u < n; ++u) om->live += sim.is_member(u, t) ? 1 : 0;
    if (om->live) om->passive_mean = static_cast<double>(passive_total) / static_cast<double>(om->live);
  }
  return adj;
}

struct union_find {
  std::vector<node_index> parent;
  explicit union_find(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  node_index find(node_index x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(node_index a, node_index b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

}  // namespace

percentiles latency_percentiles(std::vector<std::int64_t> s) {
  percentiles p;
  if (s.empty()) return p;
  std::sort(s.begin(), s.end());
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(s.size())));
    rank = std::clamp<std::size_t>(rank, 1, s.size());
    return static_cast<double>(s[rank - 1]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p95 = at(0.95);
  p.p99 = at(0.99);
  p.max = static_cast<double>(s.back()) / 1000.0;
  return p;
}

double message_rmr(const tracked_message& m) {
  if (m.delivered == 0) return 0.0;  // n - 1 = 0: undefined, reported as 0
  return static_cast<double>(m.payload_received) / static_cast<double>(m.delivered) - 1.0;
}

std::vector<node_index> missing_nodes(const simulator& sim, std::uint32_t number) {
  std::vector<node_index> v;
  const auto& m = sim.messages().at(number);
  for (node_index n = 0; n < m.expected.size(); ++n)
    if (m.expected[n] && sim.is_up(n) && (n >= m.hop.size() || m.hop[n] == not_delivered)) v.push_back(n);
  return v;
}

broadcast_metrics summarize_broadcasts(const simulator& sim, std::span<const std::uint32_t> numbers) {
  broadcast_metrics b;
  std::vector<std::int64_t> lat;
  double rmr_sum = 0, ldh_sum = 0;
  for (auto number : numbers) {
    const auto& m = sim.messages().at(number);
    ++b.messages;
    b.expected += m.expected_count;
    b.delivered += m.delivered;
    b.missed += missing_nodes(sim, number).size();
    b.payload_received += m.payload_received;
    const double rmr = message_rmr(m);
    rmr_sum += rmr;
    b.rmr_max = std::max(b.rmr_max, rmr);
    b.ldh_max = std::max<std::uint32_t>(b.ldh_max, m.ldh);
    ldh_sum += m.ldh;
    lat.insert(lat.end(), m.latency_us.begin(), m.latency_us.end());
  }
  if (b.messages) {
    b.rmr_mean = rmr_sum / b.messages;
    b.ldh_mean = ldh_sum / b.messages;
  }
  b.latency_ms = latency_percentiles(std::move(lat));
  return b;
}

std::array<std::uint64_t, link_path_count> links_by_path(const simulator& sim, topic_index t) {
  std::array<std::uint64_t, link_path_count> out{};
  const auto adj = active_graph(sim, t, nullptr);
  for (node_index u = 0; u < adj.size(); ++u) {
    if (!sim.is_member(u, t)) continue;
    for (auto v : adj[u]) {
      if (v == no_node || v <= u || !sim.is_member(v, t)) continue;
      if (const auto p = sim.path(u, v)) ++out[static_cast<std::size_t>(*p)];
    }
  }
  return out;
}

overlay_metrics analyze_overlay(const simulator& sim, topic_index t) {
  overlay_metrics om;
  const auto adj = active_graph(sim, t, &om);
  const std::size_t n = adj.size();
  union_find uf(n);
  std::uint64_t active_total = 0;
  bool first = true;
  for (node_index u = 0; u < n; ++u) {
    if (!sim.is_member(u, t)) continue;
    const std::size_t deg = adj[u].size();
    active_total += deg;
    om.active_min = first ? deg : std::min(om.active_min, deg);
    om.active_max = std::max(om.active_max, deg);
    first = false;
    bool has_live = false;
    for (auto v : adj[u]) {
      ++om.edges;
      if (v == no_node || !sim.is_member(v, t)) {
        ++om.dead_edges;
        continue;
      }
      has_live = true;
      uf.unite(u, v);
      if (std::find(adj[v].begin(), adj[v].end(), u) != adj[v].end()) ++om.mutual;
    }
    if (!has_live) ++om.isolated;
  }
  if (om.edges) om.symmetry = static_cast<double>(om.mutual) / static_cast<double>(om.edges);
  if (om.live) om.active_mean = static_cast<double>(active_total) / static_cast<double>(om.live);
  std::vector<std::size_t> size(n, 0);
  for (node_index u = 0; u < n; ++u)
    if (sim.is_member(u, t)) ++size[uf.find(u)];
  for (auto s : size) {
    if (s == 0) continue;
    ++om.components;
    om.largest_component = std::max(om.largest_component, s);
  }
  om.connected = om.live > 0 && om.components == 1;
  return om;
}

std::vector<std::string> audit_views(const simulator& sim, topic_index t, std::size_t limit) {
  std::vector<std::string> lines;
  const auto adj = active_graph(sim, t, nullptr);
  for (node_index u = 0; u < adj.size() && lines.size() < limit; ++u) {
    if (!sim.is_member(u, t)) continue;
    bool live = false;
    for (auto v : adj[u]) {
      if (v == no_node) {
        lines.push_back("n" + std::to_string(u) + " has an unknown node in its active view");
        continue;
      }
      if (!sim.is_member(v, t)) {
        lines.push_back("n" + std::to_string(u) + " has n" + std::to_string(v) + " (down) in its active view");
        continue;
      }
      live = true;
      if (std::find(adj[v].begin(), adj[v].end(), u) == adj[v].end())
        lines.push_back("n" + std::to_string(u) + " has n" + std::to_string(v) +
                        " in its active view, not the reverse");
    }
    if (!live) lines.push_back("live n" + std::to_string(u) + " has no live neighbour");
  }
  if (lines.size() > limit) lines.resize(limit);
  return lines;
}

std::size_t count_components(const simulator& sim, topic_index t, std::span<const node_index> subset,
                             bool mutual_only) {
  const std::size_t n = sim.node_count();
  std::vector<std::uint8_t> in(n, 0);
  for (auto u : subset)
    if (u < n && sim.is_member(u, t)) in[u] = 1;
  union_find uf(n);
  const topic_id& topic = sim.topic(t);
  for (node_index u = 0; u < n; ++u) {
    if (!in[u]) continue;
    for (const auto& id : sim.protocol(u).active_view(topic)) {
      const node_index v = sim.index_of(id);
      if (v == no_node || !in[v]) continue;
      if (mutual_only) {
        const auto back = sim.protocol(v).active_view(topic);
        if (std::find(back.begin(), back.end(), sim.info(u).id) == back.end()) continue;
      }
      uf.unite(u, v);
    }
  }
  std::size_t c = 0;
  for (node_index u = 0; u < n; ++u)
    if (in[u] && uf.find(u) == u) ++c;
  return c;
}

}  // namespace topicswarm::sim
