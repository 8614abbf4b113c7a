"""The gazetteer CSV importer on a real database: places, alternate names, country codes, bad lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.geo.importers import RowError, import_places_csv
from app.geo.models import Place, PlaceName

HEADER = "name,kind,lat,lon,adm1,adm2,country_code,alt_names\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def names_of(session, place_name: str) -> dict[str, tuple[str | None, str]]:
    place = session.scalars(select(Place).where(Place.name == place_name)).one()
    rows = session.execute(select(PlaceName.name, PlaceName.language, PlaceName.kind).filter_by(place_id=place.id))
    return {name: (language, kind) for name, language, kind in rows}


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_alt_names_become_alternate_place_names(db_session, tmp_path):
    places = write(
        tmp_path / "car_places.csv",
        HEADER + "Ndélé,town,8.4109,20.6473,Bamingui-Bangoran,Ndélé,CF,Ndele; N'Délé ;;N'Dele;Ndélé Centre\n"
        "Bossangoa,town,6.4926,17.4552,Ouham,Bossangoa,,Bosangoa\n",
    )
    report = import_places_csv(session=db_session, path=places)
    assert (report.imported, report.already_present, report.names_added, report.errors) == (2, 0, 3, [])
    # "Ndele" is Ndélé without diacritics: its search name covers it, no row needed; N'Dele repeats N'Délé.
    assert names_of(db_session, "Ndélé") == {"N'Délé": (None, "alternate"), "Ndélé Centre": (None, "alternate")}
    assert names_of(db_session, "Bossangoa") == {"Bosangoa": (None, "alternate")}


def test_country_code_column_wins_over_the_default(db_session, tmp_path):
    places = write(
        tmp_path / "border.csv",
        HEADER + "Bangui,city,4.3612,18.555,Bangui,Bangui,,\n"
        "Zongo,town,4.3433,18.5947,Sud-Ubangi,Zongo,cd,\n"
        "Mobaye,town,4.3183,21.1796,Basse-Kotto,Mobaye,CAF,\n",
    )
    report = import_places_csv(session=db_session, path=places, country_code="CF")
    assert report.errors == ["line 4: country code 'CAF' is not two letters (ISO 3166)"]
    codes = dict(db_session.execute(select(Place.name, Place.country_code)).all())
    assert codes == {"Bangui": "CF", "Zongo": "CD"}


def test_existing_messages_and_counts_are_kept(db_session, tmp_path):
    places = write(
        tmp_path / "places.csv",
        "name,kind,lat,lon,adm1,adm2\n"
        "Bozoum,town,6.3172,16.3783,Ouham-Pendé,Bozoum\n"
        ",village,6.0,16.0,,\n"
        "Bossangoa,town,north,17.45,Ouham,Bossangoa\n"
        "Ndélé,town,8.4109,20.6473,Bamingui-Bangoran,Ndélé\n"
        "Far,village,95,10,,\n"
        "Extra,village,6.1,16.1,,,surplus\n",
    )
    report = import_places_csv(session=db_session, path=places, country_code="CF")
    assert report.errors == [
        "line 3: name is empty",
        "line 4: lat and lon must be decimal degrees",
        "line 6: lat/lon out of range",
        "line 7: more fields than the header",
    ]
    assert (report.imported, report.already_present, report.names_added) == (2, 0, 0)
    again = import_places_csv(session=db_session, path=places)
    assert (again.imported, again.already_present) == (0, 2)


def test_reimport_adds_only_new_alternate_names(db_session, tmp_path):
    first = write(tmp_path / "car.csv", HEADER + "Bria,town,6.5423,21.9863,Haute-Kotto,Bria,CF,Birao Road\n")
    import_places_csv(session=db_session, path=first)
    assert import_places_csv(session=db_session, path=first).names_added == 0
    richer = write(tmp_path / "car.csv", HEADER + "Bria,town,6.5423,21.9863,Haute-Kotto,Bria,CF,Birao Road;Bri\n")
    report = import_places_csv(session=db_session, path=richer)
    assert (report.imported, report.already_present, report.names_added) == (0, 1, 1)
    assert set(names_of(db_session, "Bria")) == {"Birao Road", "Bri"}


def test_values_the_database_cannot_hold_are_bad_lines_not_a_crash(db_session, tmp_path):
    long_name = "K" * 201
    places = write(
        tmp_path / "odd.csv",
        HEADER + f"{long_name},village,6,16,,,,\n"
        "Kaga\x00Bandoro,town,7,19,,,,\n"
        f"Kabo,town,7.7,18.6,Ouham,Kabo,CF,Kabo Centre;{long_name}\n"
        f"Batangafo,town,7.3,18.3,Ouham,{'B' * 121},CF,\n"
        "Markounda,town,7.6,17.0,Ouham,Markounda,CF,\n",
    )
    report = import_places_csv(session=db_session, path=places)
    assert report.errors == [
        "line 2: name is longer than 200 characters",
        "line 3: name contains a NUL character",
        "line 4: an alternate name is longer than 200 characters",
        "line 5: adm2 is longer than 120 characters",
    ]
    assert report.imported == 1


def test_quotes_percents_and_backslashes_in_names_are_data(db_session, tmp_path):
    # Names reach SQL as literals when looking places up (see find_places): they must stay data.
    odd = ["Ndah'a", "100% Kodro", "Bangui\\Nord", "Kodro %s", "x') OR '1'='1 --"]
    rows = "".join(f'"{name}",village,6.5,17.5,Ouham,,CF,"{name} bis"\n' for name in odd)
    report = import_places_csv(session=db_session, path=write(tmp_path / "odd.csv", HEADER + rows))
    assert (report.imported, report.names_added, report.errors) == (5, 5, [])
    assert all(names_of(db_session, name) == {f"{name} bis": (None, "alternate")} for name in odd)


def test_many_rows_go_in_batches(db_session, tmp_path):
    rows = "".join(f"Kodro {i},village,6.{i:04d},17.5,Ouham,Bossangoa,CF,Kodro-{i}bis\n" for i in range(2345))
    report = import_places_csv(session=db_session, path=write(tmp_path / "villages.csv", HEADER + rows))
    assert (report.imported, report.names_added) == (2345, 2345)
    assert (count(db_session, Place), count(db_session, PlaceName)) == (2345, 2345)


def test_a_bad_default_country_is_refused(db_session, tmp_path):
    places = write(tmp_path / "p.csv", HEADER + "Bria,town,6.5,21.9,,,,\n")
    with pytest.raises(RowError, match="not two letters"):
        import_places_csv(session=db_session, path=places, country_code="CAF")
