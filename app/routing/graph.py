"""An undirected road graph over RoadSegments: snapping, closures and single-source shortest paths (pure, in memory).

Nodes are segment vertices (merged where they coincide) and edges join consecutive vertices, with length and
travel time. Most nodes are shape points with two edges of the same segment, so shortest paths run on the
contracted graph of *junctions* (segment ends and nodes of degree other than 2) whose edges are *chains*: runs of
edges of one segment between two junctions. A point on a chain is reached through either end of its chain, at its
offset along it. On the benchmark network (139,000 nodes, 2,400 junctions) each Dijkstra is ~60 times smaller.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from app.geo.distance import EARTH_RADIUS_M
from app.routing.roads import RoadSegment

# Hand-drawn roads have vertices only at towns; nodes are what points snap to, so long edges are split until no
# edge is longer than this (OSM data is already denser and is left almost unchanged).
DEFAULT_MAX_EDGE_M = 1000.0
COORD_SCALE = 1e6  # vertices closer than ~0.1 m (1e-6 degree) are the same node
MIN_WEIGHT = 1e-6  # a stored zero would read as "no edge" to some csgraph routines
VIEW_CACHE_SIZE = 8  # closure sets kept built; each holds a KD tree and a few small csr matrices
KMH = 3.6  # km/h per m/s
Metric = Literal["time", "length"]


def haversine_m_array(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle metres, vectorised over numpy arrays; the same formula as app.geo.distance.haversine_m."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.subtract(lon2, lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))


@dataclass(frozen=True)
class Profile:
    """What a shortest path minimises: travel time (with an optional vehicle speed cap) or road length."""

    metric: Metric
    cap_kmh: float | None = None


TIME = Profile("time")
LENGTH = Profile("length")


@dataclass(frozen=True)
class Snap:
    """Nearest open road node per point (-1 when no road is open) and the straight distance to it in metres."""

    node: np.ndarray
    off_road_m: np.ndarray


class RoadGraph:
    """Road segments as an undirected graph: merged vertices, edges with length and time, and their chains."""

    def __init__(self, segments: Sequence[RoadSegment], lines: list[np.ndarray]) -> None:
        self.segments = tuple(segments)
        self.keys = frozenset(s.key for s in self.segments)
        points = np.vstack(lines) if lines else np.zeros((0, 2))
        point_seg = np.repeat(np.arange(len(lines)), [len(line) for line in lines])
        self.node_lat, self.node_lon, point_node = _merge_vertices(points)
        same_seg = point_seg[:-1] == point_seg[1:]
        u, v, seg = point_node[:-1][same_seg], point_node[1:][same_seg], point_seg[:-1][same_seg]
        keep = u != v  # two vertices merged into one node: not an edge
        self.edge_u, self.edge_v, self.edge_seg = u[keep], v[keep], seg[keep]
        lat, lon = self.node_lat, self.node_lon
        self.edge_length_m = haversine_m_array(lat[self.edge_u], lon[self.edge_u], lat[self.edge_v], lon[self.edge_v])
        self.segment_speed_kmh = np.array([s.speed_kmh for s in self.segments], dtype=float)
        self.edge_time_s = self.edge_length_m / (self.segment_speed_kmh[self.edge_seg] / KMH)
        sizes = np.array([len(line) for line in lines], dtype=np.int64)
        ends = np.cumsum(sizes)
        self._contract(np.concatenate([point_node[ends - sizes], point_node[ends - 1]]))
        self._lat0 = math.radians(float(lat.mean())) if len(lat) else 0.0
        self._views: OrderedDict[frozenset[str], GraphView] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def build(cls, segments: Iterable[RoadSegment], *, max_edge_m: float | None = DEFAULT_MAX_EDGE_M) -> RoadGraph:
        """Build the graph: vertices within 1e-6 degree merge into one node; long edges are split at max_edge_m."""
        segments = list(segments)
        lines = [np.asarray(s.coords, dtype=float).reshape(-1, 2) for s in segments]
        if max_edge_m is not None:
            lines = [_densify(line, max_edge_m) for line in lines]
        return cls(segments, lines)

    def _contract(self, segment_end_nodes: np.ndarray) -> None:
        """Junctions, chains, and for every other node its chain and offset along it (edges are in line order)."""
        n = self.node_count
        degree = np.bincount(self.edge_u, minlength=n) + np.bincount(self.edge_v, minlength=n)
        junction = degree != 2
        junction[segment_end_nodes] = True  # a chain never spans two segments, so a closure removes whole chains
        self.junction_nodes = np.flatnonzero(junction)
        self.junction_index = np.full(n, -1, dtype=np.int64)
        self.junction_index[self.junction_nodes] = np.arange(len(self.junction_nodes))
        starts = junction[self.edge_u]
        self.edge_chain = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        last = np.r_[first[1:] - 1, self.edge_count - 1] if len(first) else first
        self.chain_a, self.chain_b = self.edge_u[first], self.edge_v[last]
        self.chain_seg = self.edge_seg[first]
        self.chain_length_m = np.bincount(self.edge_chain, weights=self.edge_length_m, minlength=len(first))
        cum = np.cumsum(self.edge_length_m)
        offset = cum - (cum[first] - self.edge_length_m[first])[self.edge_chain]
        inner = ~junction[self.edge_v]
        self.node_chain = np.full(n, -1, dtype=np.int64)
        self.node_offset_m = np.zeros(n)
        self.node_chain[self.edge_v[inner]] = self.edge_chain[inner]
        self.node_offset_m[self.edge_v[inner]] = offset[inner]

    @property
    def node_count(self) -> int:
        """Number of nodes."""
        return len(self.node_lat)

    @property
    def edge_count(self) -> int:
        """Number of undirected edges."""
        return len(self.edge_u)

    @property
    def junction_count(self) -> int:
        """Number of nodes that are segment ends or have a degree other than 2."""
        return len(self.junction_nodes)

    @cached_property
    def max_speed_kmh(self) -> float:
        """The fastest segment speed: a vehicle cap at or above it changes nothing."""
        return float(self.segment_speed_kmh[self.edge_seg].max()) if self.edge_count else 0.0

    def unknown_keys(self, keys: Iterable[str]) -> set[str]:
        """The keys that name no segment of this graph (a closure naming one of them closes nothing)."""
        return set(keys) - self.keys

    def project(self, lat, lon) -> np.ndarray:
        """Local equirectangular metres (x east, y north): accurate to ~1 % across CAR, enough to pick a node."""
        lat, lon = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
        return np.column_stack([EARTH_RADIUS_M * lon * math.cos(self._lat0), EARTH_RADIUS_M * lat])

    def with_closures(self, closed: Iterable[str] = ()) -> GraphView:
        """The graph with every segment whose key is in `closed` removed; built once per closure set, then cached."""
        known = frozenset(closed) & self.keys  # unknown keys would only multiply identical cache entries
        with self._lock:
            view = self._views.get(known)
            if view is not None:
                self._views.move_to_end(known)
                return view
        view = GraphView(self, known)
        with self._lock:
            self._views[known] = view
            while len(self._views) > VIEW_CACHE_SIZE:
                self._views.popitem(last=False)
        return view


@dataclass(frozen=True)
class Weighted:
    """The junction graph for one profile as csr (both directions, one spare empty row for a virtual source)."""

    matrix: csr_matrix
    keys: np.ndarray  # row * width + col per stored entry, ascending (the csr order), to find an entry's chain
    chain: np.ndarray  # the chain behind each stored entry
    length_m: np.ndarray  # road metres of each stored entry
    per_metre: np.ndarray  # profile cost of one metre, per chain (1 for length; seconds per metre for time)

    @property
    def width(self) -> int:
        """Junction count + 1: the last index is the virtual source used when the target is inside a chain."""
        return self.matrix.shape[0]


class GraphView:
    """The open part of a RoadGraph under one closure set: KD tree of open nodes and junction graphs per profile."""

    def __init__(self, graph: RoadGraph, closed: frozenset[str]) -> None:
        self.graph = graph
        self.closed = closed
        closed_seg = np.array([s.key in closed for s in graph.segments], dtype=bool)
        self.open_chain = ~closed_seg[graph.chain_seg] if len(graph.chain_seg) else np.zeros(0, dtype=bool)
        open_edges = self.open_chain[graph.edge_chain]
        self.active = np.unique(np.concatenate([graph.edge_u[open_edges], graph.edge_v[open_edges]]))
        self._tree = cKDTree(graph.project(graph.node_lat[self.active], graph.node_lon[self.active]))
        self._weighted: dict[Profile, Weighted] = {}
        self._lock = threading.Lock()

    def snap(self, lat, lon) -> Snap:
        """Nearest node with at least one open edge, for every point in one vectorised KD-tree query."""
        lat, lon = np.atleast_1d(np.asarray(lat, dtype=float)), np.atleast_1d(np.asarray(lon, dtype=float))
        if len(self.active) == 0:
            return Snap(np.full(len(lat), -1, dtype=np.int64), np.full(len(lat), np.inf))
        _, index = self._tree.query(self.graph.project(lat, lon), workers=-1 if len(lat) > 1000 else 1)
        node = self.active[index]
        off = haversine_m_array(lat, lon, self.graph.node_lat[node], self.graph.node_lon[node])
        return Snap(node, off)

    def weighted(self, profile: Profile) -> Weighted:
        """The junction graph weighted for a profile (cached): parallel chains keep the cheapest."""
        with self._lock:
            found = self._weighted.get(profile)
        if found is None:
            found = _weighted(self.graph, self.open_chain, profile)
            with self._lock:
                self._weighted[profile] = found
        return found

    def reach(self, target_node: int, profile: Profile) -> Reach:
        """One single-source Dijkstra from the target's node (a snapped, open one) over the open roads."""
        position = np.searchsorted(self.active, target_node)
        if position == len(self.active) or self.active[position] != target_node:
            raise ValueError(f"node {target_node} has no open road: snap the target with this view first")
        return Reach(self, self.weighted(profile), int(target_node))

    @cached_property
    def _junction_components(self) -> np.ndarray:
        _, labels = connected_components(self.weighted(LENGTH).matrix, directed=False)
        return labels

    def component(self, nodes: np.ndarray) -> np.ndarray:
        """Connected-component label of each (open) node: nodes with equal labels are joined by open roads."""
        g = self.graph
        nodes = np.asarray(nodes, dtype=np.int64)
        chain = g.node_chain[nodes]
        junction = np.where(chain >= 0, g.chain_a[np.maximum(chain, 0)], nodes)
        return self._junction_components[g.junction_index[junction]]


class Reach:
    """Costs (seconds or metres) from one target node to any node, and the segments of the cheapest routes."""

    def __init__(self, view: GraphView, weighted: Weighted, target: int) -> None:
        g = view.graph
        self.graph, self.weighted, self.target, self.open_chain = g, weighted, target, view.open_chain
        self.target_chain = int(g.node_chain[target])
        # Entries of the matrix Dijkstra runs on; the virtual source row adds a few.
        self._keys, self._chain, self._length = weighted.keys, weighted.chain, weighted.length_m
        matrix = weighted.matrix
        if self.target_chain < 0:
            self.source = int(g.junction_index[target])
        else:
            self.source = weighted.width - 1
            matrix = self._with_source_row()
        self.dist, self.pred = dijkstra(matrix, directed=True, indices=self.source, return_predecessors=True)

    def _with_source_row(self) -> csr_matrix:
        """The matrix plus the virtual source's entries: the ends of the target's chain at their partial costs."""
        g, w, c = self.graph, self.weighted, self.target_chain
        offset = g.node_offset_m[self.target]
        ends = g.junction_index[[g.chain_a[c], g.chain_b[c]]]
        lengths = np.array([offset, g.chain_length_m[c] - offset])
        if ends[0] == ends[1]:  # a loop chain: keep the shorter way round
            ends, lengths = ends[:1], lengths.min(keepdims=True)
        elif ends[0] > ends[1]:  # stored entries of a row are in column order
            ends, lengths = ends[::-1], lengths[::-1]
        costs = np.maximum(lengths * w.per_metre[c], MIN_WEIGHT)
        m = w.matrix
        data, cols = np.r_[m.data, costs], np.r_[m.indices, ends].astype(np.int32)
        indptr = np.r_[m.indptr[:-1], len(data)].astype(np.int32)
        self._keys = np.r_[w.keys, self.source * w.width + ends]
        self._chain = np.r_[w.chain, [c] * len(ends)]
        self._length = np.r_[w.length_m, lengths]
        return csr_matrix((data, cols, indptr), shape=m.shape)

    def _entry_lengths(self) -> np.ndarray:
        """Metres of the tree edge from each junction to its parent (0 at the source and unreached ones)."""
        child = np.flatnonzero(self.pred >= 0)
        pos = np.searchsorted(self._keys, self.pred[child].astype(np.int64) * self.weighted.width + child)
        out = np.zeros(len(self.pred))
        out[child] = self._length[pos]
        return out

    @cached_property
    def junction_length_m(self) -> np.ndarray:
        """Road metres along the cheapest route from the target to every junction (inf when unreached)."""
        return _tree_sums(self.pred, self._entry_lengths(), self.dist)

    def cost(self, nodes: np.ndarray, *, with_length: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Cost from the target to each node, and the road metres of that route when asked (vectorised)."""
        cost, length, _ = self._best(np.asarray(nodes, dtype=np.int64), with_length)
        return cost, length

    def _best(self, nodes: np.ndarray, with_length: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Cheapest of: the node's own junction, either end of its chain, or straight along the target's chain.

        The third array says how: a junction index where the route enters the junction graph, or -1 for a route
        that stays on the target's chain.
        """
        g, per_metre = self.graph, self.weighted.per_metre
        lengths = self.junction_length_m if with_length else None
        chain = g.node_chain[nodes]
        inner = chain >= 0
        c = np.maximum(chain, 0)
        off, total = g.node_offset_m[nodes], g.chain_length_m[c]
        ja, jb = g.junction_index[g.chain_a[c]], g.junction_index[g.chain_b[c]]
        own = np.where(inner, ja, g.junction_index[nodes])
        cost = self.dist[own] + np.where(inner, off * per_metre[c], 0.0)
        cost[inner & ~self.open_chain[c]] = np.inf  # a point inside a closed chain is not on an open road
        entry = own.copy()
        via_b = inner & self.open_chain[c] & (self.dist[jb] + (total - off) * per_metre[c] < cost)
        cost[via_b] = self.dist[jb[via_b]] + (total[via_b] - off[via_b]) * per_metre[c[via_b]]
        entry[via_b] = jb[via_b]
        length = None
        if lengths is not None:
            length = lengths[entry] + np.where(inner, np.where(via_b, total - off, off), 0.0)
        if self.target_chain >= 0:
            along = np.abs(off - g.node_offset_m[self.target])
            direct = inner & (chain == self.target_chain) & (along * per_metre[c] < cost)
            cost[direct] = along[direct] * per_metre[c[direct]]
            entry[direct] = -1
            if length is not None:
                length[direct] = along[direct]
        return cost, length, entry

    def path_segments(self, node: int) -> list[int]:
        """Segment indices from `node` to the target in travel order (consecutive repeats removed); [] if unreached."""
        cost, _, entry = self._best(np.array([node], dtype=np.int64), False)
        if node == self.target or not np.isfinite(cost[0]):
            return []
        chain = int(self.graph.node_chain[node])
        chains = [chain] if chain >= 0 else []
        x = int(entry[0])
        while x >= 0 and x != self.source:
            parent = int(self.pred[x])
            chains.append(int(self._chain[np.searchsorted(self._keys, parent * self.weighted.width + x)]))
            x = parent
        segs = self.graph.chain_seg[np.asarray(chains, dtype=np.int64)].tolist()
        return [s for k, s in enumerate(segs) if k == 0 or s != segs[k - 1]]


def _densify(line: np.ndarray, max_edge_m: float) -> np.ndarray:
    """The line with points interpolated (in degrees: fine over a few km) so no piece exceeds max_edge_m."""
    d = haversine_m_array(line[:-1, 0], line[:-1, 1], line[1:, 0], line[1:, 1])
    pieces = np.maximum(1, np.ceil(d / max_edge_m)).astype(np.int64)
    if len(pieces) == 0 or pieces.max() == 1:
        return line
    first = np.repeat(np.cumsum(pieces) - pieces, pieces)
    frac = (np.arange(pieces.sum()) - first) / np.repeat(pieces, pieces)
    starts, ends = np.repeat(line[:-1], pieces, axis=0), np.repeat(line[1:], pieces, axis=0)
    return np.vstack([starts + (ends - starts) * frac[:, None], line[-1:]])


def _merge_vertices(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node coordinates and the node of every point: points equal after rounding to 1e-6 degree share a node."""
    lat_i = np.rint(points[:, 0] * COORD_SCALE).astype(np.int64) + 90_000_000
    lon_i = np.rint(points[:, 1] * COORD_SCALE).astype(np.int64) + 180_000_000
    _, first, point_node = np.unique(lat_i * 400_000_000 + lon_i, return_index=True, return_inverse=True)
    return points[first, 0], points[first, 1], point_node.ravel().astype(np.int64)


def _weighted(graph: RoadGraph, open_chain: np.ndarray, profile: Profile) -> Weighted:
    """Symmetric csr over junctions (+1 empty row) of the open chains, weighted for the profile."""
    speed = graph.segment_speed_kmh[graph.chain_seg]
    if profile.cap_kmh is not None:
        speed = np.minimum(speed, profile.cap_kmh)
    per_metre = np.ones(len(speed)) if profile.metric == "length" else KMH / speed
    chains = np.flatnonzero(open_chain & (graph.chain_a != graph.chain_b))  # a loop never shortens a route
    weight = np.maximum(graph.chain_length_m[chains] * per_metre[chains], MIN_WEIGHT)
    ja, jb = graph.junction_index[graph.chain_a[chains]], graph.junction_index[graph.chain_b[chains]]
    width = graph.junction_count + 1
    keys = np.r_[ja * width + jb, jb * width + ja]
    weight, chains = np.r_[weight, weight], np.r_[chains, chains]
    order = np.lexsort((weight, keys))
    keys = keys[order]
    first = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)
    keys, picked = keys[first], order[first]
    indptr = np.searchsorted(keys // width, np.arange(width + 1))
    matrix = csr_matrix(
        (weight[picked], (keys % width).astype(np.int32), indptr.astype(np.int32)), shape=(width, width)
    )
    chains = chains[picked]
    return Weighted(matrix, keys, chains, graph.chain_length_m[chains], per_metre)


def _tree_sums(pred: np.ndarray, to_parent: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Sum `to_parent` from every node up to the root by pointer jumping: log2(depth) vectorised passes."""
    nodes = np.arange(len(pred))
    parent = np.where(pred >= 0, pred, nodes)
    total = to_parent.copy()
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        total += total[parent]
        parent = grand
    total[~np.isfinite(dist)] = np.inf
    return total
