"""Road routing and unit ranking: GeoJSON roads in, a road graph, units ranked by travel time (pure, no database)."""
