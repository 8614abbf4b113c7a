// Builds static/vendor/basemap/car.geojson, the dashboard's offline base map, from the npm package world-atlas
// (Natural Earth 4.1.0 admin-0 countries at 1:10m, public domain) with topojson-client. Shared borders are
// simplified once per arc, so the country and its neighbours still meet exactly.
//
//   npm pack world-atlas@2.0.2 topojson-client@3.1.0   (then untar both)
//   node basemap.mjs WORLD_ATLAS_DIR TOPOJSON_CLIENT_DIR > ../static/vendor/basemap/car.geojson
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [atlasDir, clientDir] = process.argv.slice(2);
const { feature } = await import(pathToFileURL(`${clientDir}/dist/topojson-client.js`).href);
const world = JSON.parse(readFileSync(`${atlasDir}/countries-10m.json`, "utf8"));

const COUNTRY = "140"; // Central African Republic (ISO 3166-1 numeric)
const NEIGHBOURS = ["120", "148", "729", "728", "180", "178"]; // Cameroon, Chad, Sudan, South Sudan, DR Congo, Congo
const TOLERANCE = 0.01; // degrees (about 1 km): finer than anything the dashboard draws at country scale

// Decode the quantised, delta-encoded arcs into absolute coordinates, then simplify each arc (Douglas-Peucker).
const [sx, sy] = world.transform.scale;
const [tx, ty] = world.transform.translate;
world.arcs = world.arcs.map((arc) => {
  let x = 0;
  let y = 0;
  return simplify(arc.map(([dx, dy]) => [(x += dx) * sx + tx, (y += dy) * sy + ty]));
});
delete world.transform;

function simplify(points) {
  if (points.length < 3) return points;
  const keep = new Uint8Array(points.length);
  keep[0] = keep[points.length - 1] = 1;
  const stack = [[0, points.length - 1]];
  while (stack.length) {
    const [first, last] = stack.pop();
    let worst = 0;
    let index = -1;
    for (let i = first + 1; i < last; i++) {
      const d = distance(points[i], points[first], points[last]);
      if (d > worst) [worst, index] = [d, i];
    }
    if (worst > TOLERANCE) {
      keep[index] = 1;
      stack.push([first, index], [index, last]);
    }
  }
  // A ring needs at least four points: keep the arc's middle point when everything else went.
  if (keep.reduce((a, b) => a + b, 0) < 3) keep[Math.floor(points.length / 2)] = 1;
  return points.filter((_, i) => keep[i]);
}

function distance([x, y], [x1, y1], [x2, y2]) {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const length = Math.hypot(dx, dy);
  return length === 0 ? Math.hypot(x - x1, y - y1) : Math.abs(dy * x - dx * y + x2 * y1 - y2 * x1) / length;
}

const round = (value) => (Array.isArray(value[0]) ? value.map(round) : value.map((v) => Math.round(v * 1000) / 1000));
const wanted = new Set([COUNTRY, ...NEIGHBOURS]);
const features = feature(world, world.objects.countries).features
  .filter((f) => wanted.has(f.id))
  .map((f) => ({
    type: "Feature",
    id: f.id,
    properties: { name: f.properties.name, role: f.id === COUNTRY ? "country" : "neighbour" },
    geometry: { type: f.geometry.type, coordinates: round(f.geometry.coordinates) },
  }));
process.stdout.write(JSON.stringify({
  type: "FeatureCollection",
  source: "Natural Earth 4.1.0 admin-0 countries 1:10m (public domain), via the npm package world-atlas 2.0.2",
  features,
}));
process.stdout.write("\n");
