"""Migrations are the only way the schema is made, and they match the models on this backend."""

from __future__ import annotations

from sqlalchemy import inspect

from alembic import command
from app.core import migrations
from app.core.config import Settings
from app.core.db import make_engine
from app.core.models import Base


def test_upgrade_head_then_check_finds_no_drift(make_database):
    url = make_database(migrated=False)
    migrations.upgrade(url)
    # Raises if autogenerate would produce any operation: models and migrations agree.
    command.check(migrations.alembic_config(url))
    engine = make_engine(Settings(database_url=url))
    try:
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(make_database):
    url = make_database()
    config = migrations.alembic_config(url)
    command.downgrade(config, "base")
    engine = make_engine(Settings(database_url=url))
    try:
        assert not set(inspect(engine).get_table_names()) & set(Base.metadata.tables)
        migrations.upgrade(url)
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()
