"""How an app describes its databases: the public ``Topology`` and its ini-file form."""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine, MetaData

EngineInitializer = Callable[["Engine"], None]
DEFAULT_SYSTEM_DB = "system.db"
DEFAULT_TENANT_DB = "organizations/{tenant}/tenant.db"
TENANT_PLACEHOLDER = "{tenant}"

# ini keys, each mirroring a Topology field.
INI_OPTIONS: dict[str, tuple[str, str]] = {
    "system_metadata": ("string", "system MetaData, e.g. app.db:SystemBase.metadata"),
    "tenant_metadata": ("string", "tenant MetaData, e.g. app.db:TenantBase.metadata"),
    "data_dir": ("string", "the app's real data dir (relative to the ini file)"),
    "system_db": ("string", "system DB path in the data dir (default system.db)"),
    "tenant_db": ("string", "tenant DB pattern (default organizations/{tenant}/tenant.db)"),
    "tenant_initializer": ("string", "callable(engine) creating a tenant schema"),
    "system_initializer": ("string", "callable(engine) creating the system schema"),
    "engine_caches": ("linelist", "engine caches (dicts or callables) reset per test"),
    "migrations": ("linelist", "migration file globs that key the templates"),
    "default_tenant": ("string", "tenant id used when a test names none"),
}


@dataclass(frozen=True)
class Topology:
    """The app's databases: one system DB and one DB per tenant, as files under ``data_dir``.

    ``data_dir`` is the app's *real* data dir: tests never write there; every database the app
    opens under it is served from the test's sandbox instead.
    """

    system: MetaData
    tenant: MetaData
    data_dir: str | os.PathLike[str]
    system_db: str = DEFAULT_SYSTEM_DB
    tenant_db: str = DEFAULT_TENANT_DB
    system_initializer: EngineInitializer | None = None
    tenant_initializer: EngineInitializer | None = None
    migrations: Sequence[str | os.PathLike[str]] = ()
    engine_caches: Sequence[Any] = field(default=())
    default_tenant: str = "default"


def ensure_topology(value: object, source: str) -> Topology:
    """Check what a ``tenant_topology`` fixture (or the ini) produced, naming the fix if wrong."""
    from sqlalchemy import MetaData  # a topology exists: the project uses SQLAlchemy

    if not isinstance(value, Topology):
        raise pytest.UsageError(
            f"{source} returned {type(value).__name__}, expected tenantfixtures.Topology:"
            " return tenantfixtures.Topology(system=..., tenant=..., data_dir=...)"
        )
    for name in ("system", "tenant"):
        if not isinstance(getattr(value, name), MetaData):
            raise pytest.UsageError(
                f"{source}: Topology.{name} must be a sqlalchemy MetaData"
                f" (e.g. {name.capitalize()}Base.metadata),"
                f" got {type(getattr(value, name)).__name__}"
            )
    try:
        validate_layout_paths(value.system_db, value.tenant_db)
    except ValueError as exc:
        raise pytest.UsageError(f"{source}: {exc}") from None
    from tenantfixtures.errors import UnsafeTenantIdError
    from tenantfixtures.sandbox.layout import validate_tenant_id

    try:
        validate_tenant_id(value.default_tenant)
    except UnsafeTenantIdError as exc:
        raise pytest.UsageError(f"{source}: default_tenant: {exc}") from None
    for cache in value.engine_caches:
        if not (callable(cache) or hasattr(cache, "clear")):
            raise pytest.UsageError(
                f"{source}: engine cache {cache!r} is neither a dict-like object nor a callable"
            )
        if _needs_arguments(cache):
            raise pytest.UsageError(
                f"{source}: engine cache {getattr(cache, '__qualname__', cache)!r} takes"
                " arguments, but a callable engine cache is a reset hook called with none after"
                " each test: name the dict of engines, a functools.lru_cache function (its"
                " cache is cleared), or a function that empties the cache"
            )
    return value


def _needs_arguments(cache: Any) -> bool:
    """A callable, not a mapping nor an ``lru_cache`` function, that cannot be called bare."""
    if not callable(cache) or hasattr(cache, "cache_clear") or hasattr(cache, "clear"):
        return False
    try:
        inspect.signature(cache).bind()
    except TypeError:
        return True
    except ValueError:
        return False  # no signature to read (some builtins): trust it
    return False


def validate_layout_paths(system_db: str, tenant_db: str) -> None:
    """Both paths relative to the data dir, naming a file; ``tenant_db`` with one placeholder."""
    for label, value in (("system_db", system_db), ("tenant_db", tenant_db)):
        parts = PurePosixPath(value).parts
        if os.path.isabs(value) or ".." in parts or not parts or parts[-1] == ".":
            raise ValueError(
                f"{label}={value!r} must be a file path relative to the data dir,"
                " e.g. 'system.db' or 'organizations/{tenant}/tenant.db'"
            )
    if tenant_db.count(TENANT_PLACEHOLDER) != 1:
        raise ValueError(
            f"tenant_db={tenant_db!r} must contain the placeholder {TENANT_PLACEHOLDER} once,"
            " e.g. 'organizations/{tenant}/tenant.db'"
        )


def ini_base_dir(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath else config.rootpath


def ini_value(config: pytest.Config, key: str) -> Any:
    return config.getini(f"tenantfixtures_{key}")


def data_dir_from_ini(config: pytest.Config) -> Path | None:
    value = ini_value(config, "data_dir")
    return ini_base_dir(config) / value if value else None


def topology_from_ini(config: pytest.Config) -> Topology | None:
    """The topology the ini file describes, or None when it names no metadata."""
    system, tenant = ini_value(config, "system_metadata"), ini_value(config, "tenant_metadata")
    if not system and not tenant:
        return None
    data_dir = data_dir_from_ini(config)
    missing = [
        f"tenantfixtures_{key}"
        for key, value in (("system_metadata", system), ("tenant_metadata", tenant))
        if not value
    ] + ([] if data_dir else ["tenantfixtures_data_dir"])
    if missing:
        raise pytest.UsageError(
            f"incomplete tenantfixtures ini configuration: set {', '.join(missing)}"
            " (or define a session-scoped tenant_topology fixture in conftest.py)"
        )
    assert data_dir is not None
    base = ini_base_dir(config)
    optional: dict[str, Any] = {
        key: ini_value(config, key) for key in ("system_db", "tenant_db", "default_tenant")
    }
    topology = Topology(
        system=_metadata_from_ini(system, "tenantfixtures_system_metadata"),
        tenant=_metadata_from_ini(tenant, "tenantfixtures_tenant_metadata"),
        data_dir=data_dir,
        system_initializer=_optional_import(config, "system_initializer"),
        tenant_initializer=_optional_import(config, "tenant_initializer"),
        migrations=[str(base / pattern) for pattern in ini_value(config, "migrations")],
        engine_caches=[
            resolve_import_path(spec, "tenantfixtures_engine_caches")
            for spec in ini_value(config, "engine_caches")
        ],
        **{key: value for key, value in optional.items() if value},
    )
    return ensure_topology(topology, "the tenantfixtures ini options")


def _metadata_from_ini(spec: str, option: str) -> MetaData:
    from sqlalchemy import MetaData

    target = resolve_import_path(spec, option)
    if not isinstance(target, MetaData):
        raise pytest.UsageError(
            f"{option} = {spec!r} is a {type(target).__name__}, not a sqlalchemy MetaData:"
            " name the metadata of the declarative base, e.g. 'app.database:SystemBase.metadata'"
        )
    return target


def _optional_import(config: pytest.Config, key: str) -> Any:
    spec = ini_value(config, key)
    return resolve_import_path(spec, f"tenantfixtures_{key}") if spec else None


def resolve_import_path(spec: str, option: str) -> Any:
    """``'package.module:attr.attr'`` -> the object, or a UsageError naming the option and fix."""
    module_name, sep, attribute_path = spec.partition(":")
    hint = f"set {option} to 'package.module:attribute', e.g. 'app.database:SystemBase.metadata'"
    if not sep or not module_name or not attribute_path:
        raise pytest.UsageError(f"{option} = {spec!r} is not an import path: {hint}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise pytest.UsageError(
            f"{option} = {spec!r}: module {module_name!r} cannot be imported ({exc});"
            f" check the module name and the ini 'pythonpath' setting"
        ) from None
    except Exception as exc:  # the module itself fails: a missing setting, a bad import-time call
        raise pytest.UsageError(
            f"{option} = {spec!r}: importing {module_name!r} raised"
            f" {type(exc).__name__}: {exc}; fix that module (run python -c 'import"
            f" {module_name}' to see the traceback)"
        ) from None
    for part in attribute_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise pytest.UsageError(
                f"{option} = {spec!r}: {module_name!r} has no attribute {attribute_path!r}"
                f" ({part!r} is missing); {hint}"
            ) from None
    return target
