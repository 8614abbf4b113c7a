"""Road graph: merged vertices, edge lengths, snapping, closures, and shortest paths checked against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from app.geo.distance import haversine_m
from app.routing.graph import LENGTH, TIME, Profile, RoadGraph, haversine_m_array
from app.routing.roads import RoadSegment


def seg(key, *coords, speed=50.0, name=None, road_class="primary"):
    return RoadSegment(key=key, name=name, road_class=road_class, speed_kmh=speed, coords=tuple(coords))


def test_shared_vertices_merge_into_one_node():
    graph = RoadGraph.build(
        [seg("a", (5.0, 20.0), (5.0, 20.1)), seg("b", (5.0, 20.1 + 4e-7), (5.1, 20.1))], max_edge_m=None
    )
    assert graph.node_count == 3
    assert graph.edge_count == 2
    apart = RoadGraph.build(
        [seg("a", (5.0, 20.0), (5.0, 20.1)), seg("b", (5.0, 20.10001), (5.1, 20.1))], max_edge_m=None
    )
    assert apart.node_count == 4


def test_edges_carry_haversine_length_and_time_at_segment_speed():
    graph = RoadGraph.build([seg("a", (5.0, 20.0), (5.05, 20.02), (5.1, 20.1), speed=36.0)], max_edge_m=None)
    lat, lon = graph.node_lat, graph.node_lon
    expected = [haversine_m(lat[u], lon[u], lat[v], lon[v]) for u, v in zip(graph.edge_u, graph.edge_v, strict=True)]
    assert graph.edge_length_m == pytest.approx(expected, rel=1e-12)
    assert graph.edge_time_s == pytest.approx(np.array(expected) / 10.0)  # 36 km/h is 10 m/s


def test_vectorised_haversine_matches_the_gazetteer_formula():
    rng = np.random.default_rng(3)
    a, b = rng.uniform([-89, -179], [89, 179], (200, 2)), rng.uniform([-89, -179], [89, 179], (200, 2))
    got = haversine_m_array(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert got == pytest.approx([haversine_m(*p, *q) for p, q in zip(a, b, strict=True)], rel=1e-9)


def test_long_edges_are_split_and_length_is_kept():
    line = [(5.0, 20.0), (5.0, 20.3), (5.2, 20.3)]
    split = RoadGraph.build([seg("a", *line)], max_edge_m=1000.0)
    whole = RoadGraph.build([seg("a", *line)], max_edge_m=None)
    assert split.edge_length_m.max() <= 1000.0
    assert split.edge_count > 50 and whole.edge_count == 2
    assert split.edge_length_m.sum() == pytest.approx(whole.edge_length_m.sum(), rel=1e-4)


def test_snap_finds_the_nearest_node_for_many_points_at_once():
    graph = RoadGraph.build([seg("a", (5.0, 20.0), (5.0, 20.1)), seg("b", (5.5, 20.0), (5.6, 20.0))], max_edge_m=None)
    view = graph.with_closures()
    snap = view.snap([5.01, 5.58, 5.0], [20.099, 20.001, 20.0])
    lat, lon = graph.node_lat[snap.node], graph.node_lon[snap.node]
    assert list(zip(lat.tolist(), lon.tolist(), strict=True)) == [(5.0, 20.1), (5.6, 20.0), (5.0, 20.0)]
    assert snap.off_road_m == pytest.approx(
        [haversine_m(5.01, 20.099, 5.0, 20.1), haversine_m(5.58, 20.001, 5.6, 20.0), 0]
    )


def test_closed_segments_lose_their_nodes_for_snapping_and_views_are_cached():
    graph = RoadGraph.build([seg("a", (5.0, 20.0), (5.0, 20.1)), seg("b", (5.5, 20.0), (5.6, 20.0))], max_edge_m=None)
    view = graph.with_closures({"b", "not-a-road"})
    assert view.closed == frozenset({"b"})
    assert graph.with_closures(["b"]) is view
    assert graph.with_closures() is not view
    assert graph.unknown_keys({"b", "not-a-road"}) == {"not-a-road"}
    node = view.snap(5.6, 20.0).node[0]
    assert (graph.node_lat[node], graph.node_lon[node]) == (5.0, 20.0)
    everything = graph.with_closures({"a", "b"})
    assert everything.snap(5.0, 20.0).node[0] == -1


def test_route_through_a_junction_names_segments_in_travel_order():
    graph = RoadGraph.build(
        [
            seg("west", (5.0, 19.8), (5.0, 20.0), name="RN2"),
            seg("east", (5.0, 20.0), (5.0, 20.2), name="RN2"),
            seg("north", (5.0, 20.0), (5.3, 20.0), name="RN8", speed=30.0),
        ]
    )
    view = graph.with_closures()
    target = view.snap(5.0, 19.85).node[0]
    unit = view.snap(5.25, 20.0).node[0]
    reach = view.reach(target, TIME)
    assert [graph.segments[s].key for s in reach.path_segments(unit)] == ["north", "west"]
    cost, length = reach.cost(np.array([unit]), with_length=True)
    lat, lon = graph.node_lat, graph.node_lon
    north_m = haversine_m(lat[unit], lon[unit], 5.0, 20.0)
    west_m = haversine_m(5.0, 20.0, lat[target], lon[target])
    assert length[0] == pytest.approx(north_m + west_m, rel=1e-6)
    assert cost[0] == pytest.approx(north_m / (30 / 3.6) + west_m / (50 / 3.6), rel=1e-6)


def test_points_inside_closed_segments_are_unreachable_and_cannot_be_targets():
    graph = RoadGraph.build([seg("a", (5.0, 20.0), (5.0, 20.1)), seg("b", (5.0, 20.1), (5.0, 20.2))])
    full, closed = graph.with_closures(), graph.with_closures({"b"})
    inside_b = full.snap(5.0, 20.15).node
    open_node = closed.snap(5.0, 20.02).node[0]
    cost, _ = closed.reach(open_node, TIME).cost(inside_b)
    assert math.isinf(cost[0])
    with pytest.raises(ValueError, match="no open road"):
        closed.reach(int(inside_b[0]), TIME)


def test_disconnected_parts_are_unreachable_and_in_different_components():
    graph = RoadGraph.build([seg("a", (5.0, 20.0), (5.0, 20.1)), seg("b", (5.5, 20.0), (5.6, 20.0))])
    view = graph.with_closures()
    nodes = view.snap([5.0, 5.6], [20.05, 20.0]).node
    cost, _ = view.reach(nodes[0], LENGTH).cost(nodes)
    assert cost[0] == 0 and math.isinf(cost[1])
    labels = view.component(nodes)
    assert labels[0] != labels[1]
    assert view.reach(nodes[0], LENGTH).path_segments(nodes[1]) == []


# Brute force: Dijkstra over every vertex, as the graph would be without chain contraction.


def random_network(rng: np.random.Generator) -> list[RoadSegment]:
    """Roads between random towns with bends; some cross at a shared vertex, some are loops."""
    towns = rng.uniform([4.0, 18.0], [4.6, 18.6], (8, 2))
    segments: list[RoadSegment] = []
    for k in range(14):
        a, b = rng.choice(len(towns), 2, replace=k % 5 == 4)  # every fifth road may be a loop
        bends = [tuple(p) for p in rng.uniform([4.0, 18.0], [4.6, 18.6], (rng.integers(2, 5), 2))]
        if segments and rng.random() < 0.3:
            # Cross an earlier road at one of its vertices, between two fresh bends: no edge is drawn twice, so no
            # two routes tie and the brute-force route is the only right answer.
            other = segments[rng.integers(len(segments))].coords
            bends.insert(rng.integers(1, len(bends)), other[rng.integers(len(other))])
        coords = (tuple(towns[a]), *bends, tuple(towns[b]))
        speed = float(rng.choice([50.0, 35.0, 25.0, 15.0, 5.0]))
        segments.append(seg(f"s{k}", *coords, speed=speed))
    return segments


def brute_force(graph: RoadGraph, closed: set[str], profile: Profile, source: int):
    """Costs, predecessors and the (weight, length, segment) of the best stored edge per node pair."""
    n = graph.node_count
    best: dict[tuple[int, int], tuple[float, float, int]] = {}
    for u, v, s, length in zip(graph.edge_u, graph.edge_v, graph.edge_seg, graph.edge_length_m, strict=True):
        segment = graph.segments[s]
        if segment.key in closed:
            continue
        speed = min(segment.speed_kmh, profile.cap_kmh or math.inf)
        weight = length if profile.metric == "length" else length / (speed / 3.6)
        for key in ((u, v), (v, u)):
            if key not in best or weight < best[key][0]:
                best[key] = (weight, length, s)
    rows, cols = zip(*best, strict=True)
    matrix = csr_matrix(([w for w, _, _ in best.values()], (rows, cols)), shape=(n, n))
    dist, pred = dijkstra(matrix, directed=True, indices=source, return_predecessors=True)
    return dist, pred, best


def brute_path(pred, best, source: int, node: int) -> tuple[float, list[int]]:
    length, segs = 0.0, []
    while node != source:
        parent = pred[node]
        _, edge_length, s = best[(parent, node)]
        length += edge_length
        if not segs or segs[-1] != s:
            segs.append(s)
        node = parent
    return length, segs


@pytest.mark.parametrize("seed", range(12))
def test_contracted_shortest_paths_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    graph = RoadGraph.build(random_network(rng), max_edge_m=8000.0)
    assert graph.junction_count < graph.node_count  # the contraction is exercised
    closed = set(rng.choice(sorted(graph.keys), 2, replace=False).tolist()) if seed % 2 else set()
    view = graph.with_closures(closed)
    nodes = view.active
    for profile in (TIME, LENGTH, Profile("time", 20.0)):
        for target in rng.choice(nodes, 4, replace=False).tolist():
            dist, pred, best = brute_force(graph, closed, profile, target)
            reach = view.reach(target, profile)
            cost, length = reach.cost(nodes, with_length=True)
            assert cost == pytest.approx(dist[nodes], rel=1e-9, abs=1e-6)
            for node in rng.choice(nodes, 6, replace=False).tolist():
                if math.isinf(dist[node]):
                    assert reach.path_segments(node) == []
                    continue
                expected_length, expected_segs = brute_path(pred, best, target, node)
                assert length[np.flatnonzero(nodes == node)[0]] == pytest.approx(expected_length, rel=1e-9, abs=1e-6)
                assert reach.path_segments(node) == expected_segs  # from the unit to the target
