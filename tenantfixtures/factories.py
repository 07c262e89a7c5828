"""factory-boy bases whose session is the running test's sandbox.

``SystemFactory`` writes to the test's system database, ``TenantFactory`` to a tenant's: the one
named by ``tenant=``, else the tenant of a related object passed in, else the tenant of the
enclosing factory call, else the default tenant (``tenancy.using(id)``, ``@pytest.mark.tenants``,
the topology's ``default_tenant``). Every top-level call (a whole ``create_batch`` included) is
one unit: objects are flushed as they are made, and committed together at the end so the app,
which opens its own connections, sees them; a failure rolls the touched sessions back.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from factory.alchemy import (
    SESSION_PERSISTENCE_COMMIT,
    SQLAlchemyModelFactory,
    SQLAlchemyOptions,
)
from factory.base import OptionDefault
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import InstanceState, Session

from tenantfixtures.errors import TenantFixturesError
from tenantfixtures.tenancy import Tenancy, active_tenancy

__all__ = ["SystemFactory", "TenantFactory", "TenantFactoryError", "register", "reset_sequences"]

FactoryT = TypeVar("FactoryT", bound=type)


class TenantFactoryError(TenantFixturesError):
    """A factory call that cannot tell which database its rows belong in."""


@dataclass
class _Call:
    """One top-level factory call: the tenant each nested call asked for, the sessions it used."""

    tenants: list[str | None]
    sessions: dict[Session, bool] = field(default_factory=dict)  # session -> commit at the end


_CALL: ContextVar[_Call | None] = ContextVar("tenantfixtures_factory_call", default=None)


@contextmanager
def _factory_call(tenant: object) -> Iterator[None]:
    """Scope a factory call: nested calls inherit its tenant; the outermost one commits."""
    requested = tenant if isinstance(tenant, str) else None
    current = _CALL.get()
    if current is not None:
        current.tenants.append(requested or current.tenants[-1])
        try:
            yield
        finally:
            current.tenants.pop()
        return
    call = _Call([requested])
    token = _CALL.set(call)
    try:
        yield
        for session, commit in call.sessions.items():
            if commit:
                session.commit()
    except BaseException:
        for session in call.sessions:
            session.rollback()
        raise
    finally:
        _CALL.reset(token)


def _options(factory_class: type) -> Any:
    """A factory's ``_meta`` (factory-boy's options object, untyped)."""
    return factory_class._meta  # type: ignore[attr-defined]


def _tenancy_for(factory_class: type) -> Tenancy:
    __tracebackhide__ = True
    try:
        return active_tenancy()
    except RuntimeError:
        raise TenantFactoryError(
            f"{factory_class.__name__}: no test is running, so there is no sandbox to write to."
            " tenantfixtures factories take their session from the running test: call them in a"
            " test or a function-scoped fixture (not at import time or in a session-scoped"
            " fixture), in a project whose tenant_topology is configured"
        ) from None


class _SandboxOptions(SQLAlchemyOptions):
    def _build_default_options(self) -> list[OptionDefault]:
        options: list[OptionDefault] = super()._build_default_options()  # type: ignore[no-untyped-call]
        extra = OptionDefault("tenant_id_field", None, inherit=True)  # type: ignore[no-untyped-call]
        return [*options, extra]

    def contribute_to_class(self, factory: type, *args: Any, **kwargs: Any) -> None:
        super().contribute_to_class(factory, *args, **kwargs)  # type: ignore[no-untyped-call]
        meta: Any = self
        if meta.sqlalchemy_session is not None or meta.sqlalchemy_session_factory is not None:
            raise TenantFactoryError(
                f"{factory.__name__}: remove Meta.sqlalchemy_session/sqlalchemy_session_factory;"
                " tenantfixtures factories always use the running test's sandbox session"
            )
        if meta.tenant_id_field is not None and not issubclass(factory, SystemFactory):
            raise TenantFactoryError(
                f"{factory.__name__}: Meta.tenant_id_field provisions a tenant database when a"
                " system row (an organisation) is created; it belongs on a SystemFactory"
            )


class _SandboxFactory(SQLAlchemyModelFactory):
    """What system and tenant factories share: the sandbox session and the commit policy."""

    _options_class = _SandboxOptions

    class Meta:
        abstract = True
        sqlalchemy_session_persistence = SESSION_PERSISTENCE_COMMIT

    @classmethod
    def _generate(cls, strategy: str, params: dict[str, Any]) -> Any:
        __tracebackhide__ = True
        with _factory_call(params.get("tenant")):
            return super()._generate(strategy, params)  # type: ignore[no-untyped-call]

    @classmethod
    def create_batch(cls, size: int, **kwargs: Any) -> list[Any]:
        """Create ``size`` objects, committed once at the end (not once per object)."""
        with _factory_call(kwargs.get("tenant")):
            return list(super().create_batch(size, **kwargs))

    @classmethod
    def _build(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        cls._check_tenant(kwargs.pop("tenant", None))
        return super()._build(model_class, *args, **kwargs)  # type: ignore[no-untyped-call]

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        tenant = kwargs.pop("tenant", None)
        cls._check_tenant(tenant)
        session = cls._session_for(tenant)
        call = _CALL.get()
        assert call is not None, "factory-boy creates objects through _generate"
        commit = _options(cls).sqlalchemy_session_persistence == SESSION_PERSISTENCE_COMMIT
        call.sessions[session] = call.sessions.get(session, False) or commit
        if _options(cls).sqlalchemy_get_or_create:
            obj = cls._get_or_create(model_class, session, args, kwargs)  # type: ignore[no-untyped-call]
        else:
            obj = cls._save(model_class, session, args, kwargs)
        cls._after_save(obj, session)
        return obj

    @classmethod
    def _save(
        cls, model_class: type, session: Session, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Add and (unless persistence is None) flush, so ids exist for the objects that follow;
        the commit waits for the end of the top-level call. Override to create through the
        app's own code (e.g. its sign-up), returning an object attached to ``session``."""
        obj = model_class(*args, **kwargs)
        session.add(obj)
        if _options(cls).sqlalchemy_session_persistence is not None:
            session.flush()
        return obj

    @classmethod
    def _after_save(cls, obj: Any, session: Session) -> None:
        """Hook after an object is saved (system factories provision tenants here)."""

    @classmethod
    def _check_tenant(cls, tenant: object) -> None:
        """Refuse a ``tenant=`` this factory cannot honour (also when only building)."""

    @classmethod
    def _session_for(cls, tenant: object) -> Session:
        raise NotImplementedError


class SystemFactory(_SandboxFactory):
    """Base for factories of system models: rows go to the test's system database.

    ``Meta.tenant_id_field = "id"`` provisions the tenant database named by that attribute when
    an object is created (as the app's sign-up does), so ``tenancy.tenant(org.id)`` just works.
    """

    class Meta:
        abstract = True

    @classmethod
    def _check_tenant(cls, tenant: object) -> None:
        __tracebackhide__ = True  # errors point at the caller
        if tenant is not None:
            model = _options(cls).get_model_class().__name__
            raise TenantFactoryError(
                f"{cls.__name__} makes {model} rows in the system database, which has no"
                f" tenants: drop tenant={tenant!r} (tenant models need a TenantFactory)"
            )

    @classmethod
    def _session_for(cls, tenant: object) -> Session:
        return _tenancy_for(cls).system()

    @classmethod
    def _after_save(cls, obj: Any, session: Session) -> None:
        attribute = _options(cls).tenant_id_field
        if attribute is None:
            return
        session.flush()
        tenant_id = getattr(obj, attribute)
        if tenant_id is None:
            raise TenantFactoryError(
                f"{cls.__name__}: Meta.tenant_id_field names {attribute!r}, which is None after"
                " a flush; name an attribute that holds the tenant id"
            )
        _tenancy_for(cls).add_tenant(str(tenant_id))


class TenantFactory(_SandboxFactory):
    """Base for factories of tenant models: rows go to one tenant's database.

    The tenant is ``tenant=...`` if given, else the tenant of a related object passed in (also
    as a ``Params`` value), else the enclosing factory call's (SubFactory, RelatedFactory,
    post-generation), else the test's default tenant. ``tenant`` never reaches the model.
    """

    class Meta:
        abstract = True

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        """Follow related objects into their tenant (sees every attribute, parameters too)."""
        __tracebackhide__ = True
        kwargs = super()._adjust_kwargs(**kwargs)  # type: ignore[no-untyped-call]
        related = _related_tenant(kwargs)
        if related is None:
            return kwargs
        name, owner = related
        call = _CALL.get()
        wanted = kwargs.get("tenant") or (call.tenants[-1] if call else None)
        if wanted is not None and wanted != owner:
            raise TenantFactoryError(
                f"{cls.__name__}(tenant={wanted!r}) was given {name}= from tenant {owner!r}:"
                " an object and the rows it refers to must live in one tenant database"
            )
        return {**kwargs, "tenant": owner}

    @classmethod
    def _session_for(cls, tenant: object) -> Session:
        __tracebackhide__ = True
        tenancy = _tenancy_for(cls)
        call = _CALL.get()
        wanted = tenant if tenant is not None else call.tenants[-1] if call else None
        if wanted is not None and not isinstance(wanted, str):
            raise TenantFactoryError(
                f"{cls.__name__}: tenant= must be a tenant id string, got {wanted!r}"
            )
        return tenancy.tenant(wanted)


def reset_sequences() -> None:
    """Restart every sandbox factory's ``Sequence`` at 0 (the plugin does it before each test),
    so a test's data never depends on which tests ran before it on the same worker."""
    pending: list[type] = [_SandboxFactory]
    while pending:
        factory_class = pending.pop()
        pending.extend(factory_class.__subclasses__())
        meta = _options(factory_class)
        if not meta.abstract and meta.counter_reference is meta:
            meta.reset_sequence()


def _related_tenant(attributes: dict[str, Any]) -> tuple[str, str] | None:
    """(attribute, tenant id) of the first attribute holding an object of a tenant session."""
    for name, value in attributes.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            state = sa_inspect(item, raiseerr=False)
            if not isinstance(state, InstanceState) or state.session is None:
                continue
            try:
                tenancy = active_tenancy()
            except RuntimeError:
                return None
            tenant_id = tenancy.tenant_of(state.session)
            if tenant_id is not None:
                return name, tenant_id
    return None


def _fixture_name(factory_class: type) -> str:
    model = _options(factory_class).get_model_class()
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()


def register(factory_class: FactoryT, name: str | None = None, **overrides: Any) -> FactoryT:
    """Define fixtures ``<name>_factory`` (the class) and ``<name>`` (one object made with
    ``overrides``) in the calling module, pytest-factoryboy style. ``name`` defaults to the
    model's name in snake case: ``register(ConversationFactory)`` -> ``conversation``."""
    name = name or _fixture_name(factory_class)
    namespace = sys._getframe(1).f_locals
    factory_fixture_name = f"{name}_factory"
    taken = [n for n in (name, factory_fixture_name) if n in namespace]
    if taken:
        raise TenantFactoryError(
            f"register({factory_class.__name__}): {' and '.join(taken)} already defined in this"
            " module; pass another name, e.g. register(Factory, 'other_name')"
        )

    def factory_fixture() -> FactoryT:
        return factory_class

    def model_fixture(request: pytest.FixtureRequest, tenancy: Tenancy) -> Any:
        made: Callable[..., Any] = request.getfixturevalue(factory_fixture_name)
        return made(**overrides)

    namespace[factory_fixture_name] = pytest.fixture(name=factory_fixture_name)(factory_fixture)
    namespace[name] = pytest.fixture(name=name)(model_fixture)
    return factory_class
