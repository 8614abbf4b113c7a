"""Standard exports of incidents (GeoJSON, HXL-tagged CSV, CAP 1.2 and its Atom feed): public facts only."""
