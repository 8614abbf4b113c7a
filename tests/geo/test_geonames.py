"""GeoNames dump and alternateNamesV2 import on a real database, and the import-geonames command."""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.core.config import get_settings
from app.geo import geonames
from app.geo.cli import register
from app.geo.geonames import (
    import_alternate_names,
    import_geonames_dump,
    load_admin1_names,
    parse_alternate_line,
    parse_geonames_line,
    source_size,
)
from app.geo.importers import RowError
from app.geo.models import Place, PlaceName


def tsv(line: str) -> str:
    """A GeoNames line written with | between columns for the reader; the files are tab-separated."""
    return line.replace("|", "\t")


def dump_row(first_15_columns: str) -> str:
    """A dump line from its columns geonameid … population; elevation, dem, timezone and date are added."""
    return tsv(first_15_columns + "||450|Africa/Bangui|2016-06-22")


def alt_row(alt_id, geonameid, language, name, preferred="", short="", colloquial="", historic="", *period):
    """One line of alternateNamesV2 (10 columns), or of the older alternateNames when `period` is ("old",)."""
    flags = [preferred, short, colloquial, historic]
    period = [] if period == ("old",) else [*period, "", ""][:2]
    return "\t".join([alt_id, geonameid, language, name, *flags, *period])


# geonameid|name|asciiname|alternatenames|latitude|longitude|class|code|cc|cc2|admin1|admin2|admin3|admin4|population
BANGUI = dump_row("2389853|Bangui|Bangui|BGF,Bangi,Bangui,Банги|4.36122|18.55496|P|PPLC|CF||18||||542393")
BOSSANGOA = dump_row(
    "2389691|Bossangoa|Bossangoa|Bosangoa,Bossangoa,Босангоа|6.49263|17.45518|P|PPLA|CF||04|2389690|||38451"
)
BRIA = dump_row("2389086|Bria|Bria|Bria,Бриа|6.5423|21.98631|P|PPLA|CF||06||||43322")
NDELE = dump_row("236901|Ndélé|Ndele|N'Délé,Ndele,Ndélé,Нделе|8.40916|20.65302|P|PPLA|CF||01||||13704")
WINDHOEK = dump_row("3352136|Windhoek|Windhoek|Windhuk,Windhoek|-22.55941|17.08323|P|PPLC|NA||21||||268132")
ZERE_DESTROYED = dump_row("9172045|Zéré|Zere||7.1|17.9|P|PPLQ|CF||04||||0")
OUHAM_PROVINCE = dump_row("2383652|Ouham|Ouham|Prefecture de l'Ouham|6.75|17.5|A|ADM1|CF||04||||369220")
BRIA_CAMP = dump_row("11695311|PK3 Camp|PK3 Camp|Camp PK3|6.566|21.99|S|CMPRF|CF||06||||0")
ADMIN1 = [  # admin1CodesASCII.txt: CC.code, name, asciiname, geonameid
    "CF.01\tBamingui-Bangoran\tBamingui-Bangoran\t2389052",
    "CF.04\tOuham\tOuham\t2383652",
    "CF.06\tHaute-Kotto\tHaute-Kotto\t2384205",
    "CF.18\tBangui\tBangui\t2389856",
    "NA.21\tKhomas\tKhomas\t3371200",
]


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def places(session, **where) -> list[Place]:
    return list(session.scalars(select(Place).filter_by(source="geonames", **where).order_by(Place.id)))


def names_of(session, place: Place) -> dict[str, tuple[str | None, str]]:
    rows = session.execute(select(PlaceName.name, PlaceName.language, PlaceName.kind).filter_by(place_id=place.id))
    return {name: (language, kind) for name, language, kind in rows}


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_dump_stores_places_with_admin1_names_and_alternate_names(db_session, tmp_path):
    dump = write(tmp_path / "CF.txt", BANGUI, BOSSANGOA, BRIA, NDELE)
    admin1 = load_admin1_names(write(tmp_path / "admin1CodesASCII.txt", *ADMIN1))
    report = import_geonames_dump(session=db_session, path=dump, admin1_names=admin1)
    assert (report.imported, report.already_present, report.bad_lines, report.errors) == (4, 0, 0, [])
    (ndele,) = places(db_session, source_id="236901")
    assert (ndele.name, ndele.search_name, ndele.kind, ndele.country_code) == ("Ndélé", "ndele", "PPLA", "CF")
    assert (ndele.lat, ndele.lon, ndele.adm1, ndele.adm2, ndele.population) == (
        8.40916,
        20.65302,
        "Bamingui-Bangoran",
        None,
        13704,
    )
    # Ndele and Ndélé are the place's own search name; N'Délé is kept once (N'Dele would be the same).
    assert names_of(db_session, ndele) == {"N'Délé": (None, "alternate"), "Нделе": (None, "alternate")}
    (bossangoa,) = places(db_session, name="Bossangoa")
    assert (bossangoa.adm1, bossangoa.adm2) == ("Ouham", "2389690")
    assert set(names_of(db_session, bossangoa)) == {"Bosangoa", "Босангоа"}
    assert report.names_added == 2 + 2 + 1 + 3  # Ndélé, Bossangoa, Bria, Bangui (BGF, Bangi, Банги)


def test_admin1_code_is_kept_when_no_name_is_known(db_session, tmp_path):
    import_geonames_dump(session=db_session, path=write(tmp_path / "CF.txt", BRIA))
    assert places(db_session)[0].adm1 == "06"


def test_namibia_stays_na(db_session, tmp_path):
    dump = tmp_path / "NA.txt"
    dump.write_bytes((WINDHOEK + "\r\n").encode())  # a Windows line ending too
    admin1 = load_admin1_names(write(tmp_path / "admin1CodesASCII.txt", *ADMIN1))
    report = import_geonames_dump(session=db_session, path=dump, admin1_names=admin1)
    assert report.imported == 1
    (windhoek,) = places(db_session)
    assert (windhoek.country_code, windhoek.adm1, windhoek.population) == ("NA", "Khomas", 268132)
    assert parse_geonames_line(WINDHOEK).country_code == "NA"


def test_destroyed_places_are_left_out_unless_asked(db_session, tmp_path):
    dump = write(tmp_path / "CF.txt", BOSSANGOA, ZERE_DESTROYED)
    report = import_geonames_dump(session=db_session, path=dump)
    assert (report.imported, report.skipped) == (1, 1)
    assert [p.name for p in places(db_session)] == ["Bossangoa"]
    again = import_geonames_dump(session=db_session, path=dump, include_historical=True)
    assert (again.imported, again.already_present) == (1, 1)
    (zere,) = places(db_session, name="Zéré")
    assert (zere.kind, zere.population) == ("PPLQ", 0)


def test_feature_classes_choose_what_is_imported(db_session, tmp_path):
    dump = write(tmp_path / "CF.txt", BRIA, OUHAM_PROVINCE, BRIA_CAMP)
    assert import_geonames_dump(session=db_session, path=dump).imported == 2  # P and S by default
    assert {p.kind for p in places(db_session)} == {"PPLA", "CMPRF"}
    report = import_geonames_dump(session=db_session, path=dump, feature_classes=["A"])
    assert (report.imported, report.skipped) == (1, 2)


def test_bad_lines_are_reported_by_number_and_the_import_goes_on(db_session, tmp_path):
    short_row = BRIA.rsplit("\t", 1)[0]  # 18 columns
    bad_lat = BOSSANGOA.replace("6.49263", "six")
    bad_population = NDELE.replace("13704", "about 14000")
    off_the_globe = WINDHOEK.replace("-22.55941", "-122.5")
    dump = tmp_path / "CF.txt"
    lines = [BANGUI, short_row, bad_lat, bad_population, off_the_globe, "", BRIA]
    dump.write_bytes(b"".join(line.encode() + b"\n" for line in lines) + b"2389999\tBad\xff\n")
    report = import_geonames_dump(session=db_session, path=dump)
    assert report.errors == [
        "line 2: expected 19 tab-separated columns, found 18",
        "line 3: lat and lon must be decimal degrees",
        "line 4: population must be a whole number",
        "line 5: lat/lon out of range",
        "line 6: expected 19 tab-separated columns, found 0",
        "line 8: not valid UTF-8",
    ]
    assert (report.imported, report.bad_lines) == (2, 6)
    assert {p.name for p in places(db_session)} == {"Bangui", "Bria"}


def test_reimport_adds_nothing(db_session, tmp_path):
    dump = write(tmp_path / "CF.txt", BANGUI, BOSSANGOA, BRIA, NDELE)
    first = import_geonames_dump(session=db_session, path=dump)
    counts = (count(db_session, Place), count(db_session, PlaceName))
    again = import_geonames_dump(session=db_session, path=dump)
    assert (again.imported, again.already_present, again.names_added) == (0, 4, 0)
    assert (count(db_session, Place), count(db_session, PlaceName)) == counts == (4, first.names_added)


def test_a_zip_is_read_in_place_and_progress_covers_every_byte(db_session, tmp_path):
    text = "".join(line + "\n" for line in (BANGUI, BRIA, NDELE)).encode()
    archive = tmp_path / "CF.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("readme.txt", "GeoNames readme")
        zf.writestr("CF.txt", text)
    seen: list[int] = []
    report = import_geonames_dump(session=db_session, path=archive, progress=seen.append)
    assert report.imported == 3
    assert sum(seen) == source_size(archive) == len(text)
    assert sorted(p.name for p in places(db_session)) == ["Bangui", "Bria", "Ndélé"]
    assert [p.name for p in tmp_path.iterdir()] == ["CF.zip"]  # nothing extracted


def test_a_zip_without_geonames_data_is_refused(db_session, tmp_path):
    archive = tmp_path / "CF.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "GeoNames readme")
    with pytest.raises(RowError, match=r"one GeoNames \.txt"):
        import_geonames_dump(session=db_session, path=archive)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(RowError, match="not a readable zip"):
        import_geonames_dump(session=db_session, path=tmp_path / "broken.zip")


def test_the_wrong_file_fails_at_line_one(db_session, tmp_path):
    alternates = write(tmp_path / "alternateNamesV2.txt", ALTERNATES[0])
    with pytest.raises(RowError, match="line 1: expected 19 tab-separated columns, found 10"):
        import_geonames_dump(session=db_session, path=alternates)
    dump = write(tmp_path / "CF.txt", BANGUI)
    with pytest.raises(RowError, match="line 1: expected 8 or 10 tab-separated columns, found 19"):
        import_alternate_names(session=db_session, path=dump)
    assert count(db_session, Place) == 0


def test_large_files_go_in_batches_with_a_checkpoint_after_each(db_session, tmp_path):
    rows = [
        dump_row(f"{7000000 + i}|Village {i}|Village {i}|Kodro {i}|6.{i:04d}|17.5|P|PPL|CF||04||||0")
        for i in range(2500)
    ]
    dump = write(tmp_path / "CF.txt", *rows)
    checkpoints: list[int] = []
    report = import_geonames_dump(
        session=db_session, path=dump, checkpoint=lambda: checkpoints.append(count(db_session, Place))
    )
    assert (report.imported, report.names_added) == (2500, 2500)
    assert checkpoints == [1000, 2000]
    assert count(db_session, PlaceName) == 2500


def test_only_the_first_thousand_bad_lines_are_kept(db_session, tmp_path, monkeypatch):
    monkeypatch.setattr(geonames, "ERROR_LIMIT", 3)
    dump = write(tmp_path / "CF.txt", BANGUI, *["garbage"] * 10)
    report = import_geonames_dump(session=db_session, path=dump)
    assert (report.bad_lines, len(report.errors), report.imported) == (10, 3, 1)


ALTERNATES = [
    alt_row("10", "2389853", "fr", "Bangui", "1"),  # the place's own name
    alt_row("11", "2389853", "sg", "Bangî"),
    alt_row("12", "2389853", "fr", "Bangui-la-Coquette", "", "", "1"),
    alt_row("13", "2389853", "fr", "Fort de Bangui", "", "1", "", "1", "", "1960"),  # historic wins over short
    alt_row("14", "2389853", "iata", "BGF"),
    alt_row("15", "2389853", "link", "https://en.wikipedia.org/wiki/Bangui"),
    alt_row("16", "2389853", "post", "1001"),
    alt_row("17", "9999999", "en", "Nowhere"),  # a place not imported
    alt_row("18", "2389691", "fr", "Bossangoa-Ville", "", "", "", "", "old"),  # old alternateNames: 8 columns
    alt_row("19", "236901", "", "Ndele Centre", "", "1"),
    alt_row("20", "2389853", "be-tarask", "Бангі"),
    alt_row("21", "abc", "en", "Broken"),
    "22\t2389853\ten\tBangui\t",
    alt_row("23", "2389853", "fr", "Bangui-la-Coquette"),  # already stored, as colloquial
]


def test_alternate_names_get_their_kind_and_language(db_session, tmp_path):
    dump = write(tmp_path / "CF.txt", BANGUI, BOSSANGOA, NDELE)
    import_geonames_dump(session=db_session, path=dump, include_alternatenames=False)
    report = import_alternate_names(session=db_session, path=write(tmp_path / "alternateNamesV2.txt", *ALTERNATES))
    (bangui,) = places(db_session, name="Bangui")
    assert names_of(db_session, bangui) == {
        "Bangî": ("sg", "alternate"),
        "Bangui-la-Coquette": ("fr", "colloquial"),
        "Fort de Bangui": ("fr", "historic"),
        "Бангі": ("be", "alternate"),
    }
    (bossangoa,) = places(db_session, name="Bossangoa")
    assert names_of(db_session, bossangoa) == {"Bossangoa-Ville": ("fr", "alternate")}
    (ndele,) = places(db_session, name="Ndélé")
    assert names_of(db_session, ndele) == {"Ndele Centre": (None, "short")}
    assert report.errors == [
        "line 12: geonameid must be a whole number",
        "line 13: expected 8 or 10 tab-separated columns, found 5",
    ]
    assert (report.names_added, report.unknown_places, report.skipped) == (6, 1, 3)
    again = import_alternate_names(session=db_session, path=tmp_path / "alternateNamesV2.txt")
    assert again.names_added == 0


def test_alternate_names_only_attach_to_geonames_places(db_session, tmp_path):
    db_session.add(
        Place(
            name="Bangui",
            search_name="bangui",
            kind="city",
            lat=4.4,
            lon=18.6,
            source="car_places",
            source_id="2389853",
        )
    )
    db_session.flush()
    report = import_alternate_names(session=db_session, path=write(tmp_path / "alt.txt", ALTERNATES[1]))
    assert (report.names_added, report.unknown_places) == (0, 1)


@given(st.text())
def test_any_text_line_parses_or_raises_row_error(line):
    for parse in (parse_geonames_line, parse_alternate_line):
        with contextlib.suppress(RowError):
            parse(line)


FIELD = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "NA", "P", "PPLQ", "0", "-0", "1e3", "nan", "inf", "-181", "4.5", "١٢", "9" * 40, " 7 "]),
)


@given(st.lists(FIELD, min_size=18, max_size=20))
def test_any_tab_separated_fields_parse_or_raise_row_error(fields):
    try:
        place = parse_geonames_line("\t".join(fields))
    except RowError:
        return
    assert -90 <= place.lat <= 90 and -180 <= place.lon <= 180
    assert place.population is None or 0 <= place.population < 2**31


@given(st.lists(FIELD, min_size=7, max_size=11))
def test_any_alternate_fields_parse_or_raise_row_error(fields):
    try:
        alternate = parse_alternate_line("\t".join(fields))
    except RowError:
        return
    assert alternate.kind in {"alternate", "short", "colloquial", "historic"}


# -- The command ---------------------------------------------------------------------------------------------------


@pytest.fixture
def run(settings, factory, monkeypatch):
    """Run `kengele import-geonames …` in process against the test database (emptied afterwards by `factory`)."""
    monkeypatch.setenv("KENGELE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps import-geonames a subcommand, as under `kengele`
        pass

    yield lambda *args: CliRunner().invoke(app, ["import-geonames", *map(str, args)])
    get_settings.cache_clear()


def test_command_imports_reports_bad_lines_and_summarises(run, factory, tmp_path):
    dump = write(tmp_path / "CF.txt", BANGUI, BOSSANGOA.replace("6.49263", "six"), BRIA, NDELE, ZERE_DESTROYED)
    admin1 = write(tmp_path / "admin1CodesASCII.txt", *ADMIN1)
    result = run(dump, "--admin1", admin1)
    assert result.exit_code == 0, result.output
    assert f"{dump}: line 2: lat and lon must be decimal degrees" in result.stderr
    assert "3 places imported, 0 already present, 6 names added, 1 bad lines" in result.stderr
    with factory() as session:
        assert places(session, name="Ndélé")[0].adm1 == "Bamingui-Bangoran"
    again = run(dump, "--include-historical")
    assert "1 places imported, 3 already present, 0 names added, 1 bad lines" in again.stderr


def test_command_takes_names_from_the_alternate_names_file(run, factory, tmp_path):
    dump = write(tmp_path / "CF.txt", BANGUI, BOSSANGOA, NDELE)
    alternates = tmp_path / "alternateNamesV2.zip"
    with zipfile.ZipFile(alternates, "w") as zf:
        zf.writestr("alternateNamesV2.txt", "".join(line + "\n" for line in ALTERNATES))
        zf.writestr("iso-languagecodes.txt", "ISO 639-3\tISO 639-2\tISO 639-1\tLanguage Name\n")
    result = run(dump, "--alternate-names", alternates)
    assert result.exit_code == 0, result.output
    assert f"{alternates}: line 12: geonameid must be a whole number" in result.stderr
    # Ndele (asciiname) is Ndélé's own search name, so the names are the alternate file's six.
    assert "3 places imported, 0 already present, 6 names added, 2 bad lines" in result.stderr
    assert "1 alternate names of places not in the gazetteer" in result.stderr
    with factory() as session:
        assert names_of(session, places(session, name="Bangui")[0])["Fort de Bangui"] == ("fr", "historic")


def test_command_refuses_a_wrong_file_before_importing_anything(run, factory, tmp_path):
    dump = write(tmp_path / "CF.txt", BANGUI)
    alternates = write(tmp_path / "alternateNamesV2.txt", *ALTERNATES)
    result = run(alternates)
    assert result.exit_code == 2
    assert f"{alternates}: line 1: expected 19 tab-separated columns, found 10" in result.stderr
    swapped = run(dump, "--alternate-names", dump)
    assert swapped.exit_code == 2
    assert "line 1: expected 8 or 10 tab-separated columns, found 19" in swapped.stderr
    (tmp_path / "CF.zip").write_bytes(b"not a zip")
    assert run(tmp_path / "CF.zip").exit_code == 2
    assert run(dump, "--feature-classes", "P,X").exit_code == 2
    with factory() as session:
        assert count(session, Place) == 0
