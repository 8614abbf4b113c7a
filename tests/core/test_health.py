"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import post_sms, sms_form


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_ok_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["migrations_current"] is True


def test_readyz_is_503_when_migrations_are_missing(make_database, make_client):
    unmigrated = make_client(database_url=make_database(migrated=False))
    response = unmigrated.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migration"] is None


def test_readyz_is_503_when_the_database_is_unreachable(make_client, backend):
    url = "sqlite:////nonexistent-dir/x.db" if backend == "sqlite" else "postgresql+psycopg://postgres@127.0.0.1:1/x"
    response = make_client(database_url=url).get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def _sample(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and (labels is None or all(sample.labels.get(k) == v for k, v in labels.items())):
                return sample.value
    return 0.0


def test_metrics_count_accepted_duplicates_rejections_and_latency(client):
    before = client.get("/metrics").text
    form = sms_form()
    post_sms(client, form)
    post_sms(client, form)
    post_sms(client, sms_form(), signature="forged")
    after = client.get("/metrics").text

    def delta(name, labels=None):
        return _sample(after, name, labels) - _sample(before, name, labels)

    assert delta("kengele_messages_accepted_total", {"channel": "sms"}) == 1
    assert delta("kengele_messages_duplicate_total", {"channel": "sms"}) == 1
    assert delta("kengele_signatures_rejected_total", {"channel": "sms"}) == 1
    assert delta("kengele_intake_latency_seconds_count", {"channel": "sms"}) == 2
    assert "kengele_spool_depth" in after
    assert "+23675123456" not in after
