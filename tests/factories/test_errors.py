"""Misuse gets one clear error naming the problem and the fix, never a traceback from inside."""

from tests.factories.conftest import run


def test_wrong_tenant_usage_is_refused_with_the_fix(factory_project):
    factory_project.makepyfile(
        test_misuse="""
        import pytest
        from shop import AccountFactory, PostFactory, ThreadFactory
        from tenantfixtures import UnsafeTenantIdError
        from tenantfixtures.factories import TenantFactoryError

        @pytest.mark.parametrize("strategy", ["create", "build"])
        def test_system_factory_given_a_tenant(strategy, tenancy):
            with pytest.raises(TenantFactoryError) as excinfo:
                getattr(AccountFactory, strategy)(tenant="acme")
            assert str(excinfo.value) == (
                "AccountFactory makes Account rows in the system database, which has no"
                " tenants: drop tenant='acme' (tenant models need a TenantFactory)"
            )
            assert tenancy.tenants == ()

        def test_related_object_from_another_tenant(tenancy):
            thread = ThreadFactory(tenant="globex")
            with pytest.raises(TenantFactoryError) as excinfo:
                PostFactory(tenant="acme", thread=thread)
            assert str(excinfo.value) == (
                "PostFactory(tenant='acme') was given thread= from tenant 'globex': an object"
                " and the rows it refers to must live in one tenant database"
            )

        def test_tenant_must_be_a_string(tenancy):
            with pytest.raises(TenantFactoryError) as excinfo:
                ThreadFactory(tenant=3)
            assert str(excinfo.value) == "ThreadFactory: tenant= must be a tenant id string, got 3"

        def test_unsafe_tenant_id(tenancy):
            with pytest.raises(UnsafeTenantIdError, match="it contains a path separator"):
                ThreadFactory(tenant="../other")
        """
    )
    run(factory_project, "-p", "no:randomly").assert_outcomes(passed=5)


def test_factory_outside_a_test_names_the_fix(factory_project):
    factory_project.makepyfile(
        test_outside="""
        import pytest
        from shop import ThreadFactory

        @pytest.fixture(scope="session")
        def shared_thread():
            return ThreadFactory()

        def test_uses_session_data(shared_thread):
            pass
        """
    )
    result = run(factory_project, "-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *TenantFactoryError: ThreadFactory: no test is running, so there is no sandbox to"
            " write to. tenantfixtures factories take their session from the running test: call"
            " them in a test or a function-scoped fixture (not at import time or in a"
            " session-scoped fixture), in a project whose tenant_topology is configured"
        ]
    )


def test_bad_factory_declarations_fail_at_import(factory_project):
    factory_project.makepyfile(
        test_session_option="""
        from sqlalchemy.orm import Session
        from shop import Thread
        from tenantfixtures.factories import TenantFactory

        class Pinned(TenantFactory):
            class Meta:
                model = Thread
                sqlalchemy_session = Session()
        """,
        test_tenant_id_field="""
        from shop import Thread
        from tenantfixtures.factories import TenantFactory

        class Misplaced(TenantFactory):
            class Meta:
                model = Thread
                tenant_id_field = "id"
        """,
    )
    result = run(factory_project, "-p", "no:randomly")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "E * Pinned: remove Meta.sqlalchemy_session/sqlalchemy_session_factory;"
            " tenantfixtures factories always use the running test's sandbox session",
            "E * Misplaced: Meta.tenant_id_field provisions a tenant database when a system row"
            " (an organisation) is created; it belongs on a SystemFactory",
        ]
    )


def test_bad_options_and_fixture_misuse(factory_project):
    factory_project.makepyfile(
        test_frozen="""
        def test_needs_marker(frozen_time):
            pass
        """
    )
    result = run(factory_project, "-p", "no:randomly", "--tf-seed=abc")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: --tf-seed expects an integer (the base seed printed in a run's header), got 'abc'"]
    )
    result = run(factory_project, "-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E * the frozen_time fixture needs the clock frozen: mark the test with"
            " @pytest.mark.tf_freeze_time('2026-01-01 09:00') (any freezegun time)"
        ]
    )
