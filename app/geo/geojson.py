"""Reading GeoJSON files that operators import (roads, protection zones): text, JSON, a FeatureCollection (pure)."""

from __future__ import annotations

import json
from typing import Any


def load_features(raw: bytes | str, error: type[ValueError]) -> list[Any]:
    """The `features` of a GeoJSON FeatureCollection in text or bytes; `error` says in one line what is wrong."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        doc = json.loads(text)
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text: byte {exc.start}: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise error("not valid JSON: nested too deeply") from exc
    return feature_list(doc, error)


def feature_list(doc: Any, error: type[ValueError]) -> list[Any]:
    """The `features` of a FeatureCollection dict; `error` when it is not one."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise error("not a GeoJSON FeatureCollection (expected an object with type 'FeatureCollection')")
    features = doc.get("features")
    if not isinstance(features, list):
        raise error("FeatureCollection has no 'features' list")
    return features
