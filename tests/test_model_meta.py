"""Meta-tests over every mapped class of core and every installed plugin."""

from __future__ import annotations

import importlib
import pkgutil

import core
from core.db.base import Base, is_tenant_scoped


def import_every_models_module(registry) -> None:
    """Import each ``models`` module of core and of every loaded plugin (plugins import
    theirs lazily), so that all their classes are mapped."""
    packages = [core] + [module for module in registry.pm.get_plugins() if hasattr(module, "__path__")]
    for package in packages:
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.rsplit(".", 1)[-1] == "models" and ".tests." not in info.name:
                importlib.import_module(info.name)


def unscoped_tenant_classes(registry) -> list[str]:
    """Mapped classes whose table has a ``tenant_id`` column but that are not tenant-scoped,
    so the ORM guard would neither refuse them outside a scope nor filter them inside one."""
    return sorted(
        f"{mapper.class_.__module__}.{mapper.class_.__name__}"
        for mapper in registry.mappers
        if "tenant_id" in mapper.local_table.columns and not is_tenant_scoped(mapper.class_)
    )


def test_every_mapped_class_with_tenant_id_is_tenant_scoped(registry):
    import_every_models_module(registry)
    mapped = [mapper.class_.__name__ for mapper in Base.registry.mappers]
    assert "Patient" in mapped and "Appointment" in mapped and "Note" in mapped
    assert unscoped_tenant_classes(Base.registry) == []


def test_the_check_catches_a_class_that_forgot_the_mixin():
    from sqlalchemy import Column, MetaData, Uuid
    from sqlalchemy.orm import DeclarativeBase

    class Scratch(DeclarativeBase):
        metadata = MetaData()

    class Forgotten(Scratch):
        __tablename__ = "meta_forgotten"
        id = Column(Uuid, primary_key=True)
        tenant_id = Column(Uuid)

    assert unscoped_tenant_classes(Scratch.registry) == [f"{__name__}.Forgotten"]
