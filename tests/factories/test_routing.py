"""Factories put rows in the right database: system, a named tenant, the default one."""

from tests.factories.conftest import run, write_conftest


def test_rows_land_in_the_database_the_call_names(factory_project):
    factory_project.makepyfile(
        test_routing="""
        import miniapp
        import pytest
        from shop import AccountFactory, NoteFactory, Post, PostFactory, Thread, ThreadFactory, rows

        def test_system_factory_writes_the_system_database_and_commits(tenancy):
            account = AccountFactory(name="Acme")
            assert account.id == "account-0"
            assert rows(tenancy.system_path(), "SELECT id, name FROM accounts") == [
                ("account-0", "Acme")
            ]

        def test_tenant_factory_defaults_to_the_default_tenant(tenancy):
            thread = ThreadFactory(title="hello")
            assert tenancy.tenants == ("default",)
            assert rows(tenancy.tenant_path("default"), "SELECT id, title FROM threads") == [
                (thread.id, "hello")
            ]

        def test_tenant_argument_picks_the_database_and_is_not_a_column(tenancy):
            NoteFactory(tenant="acme", body="for acme")
            assert miniapp.notes("acme") == ["for acme"]
            assert tenancy.tenants == ("acme",)

        def test_using_changes_the_default(tenancy):
            with tenancy.using("globex"):
                NoteFactory(body="inside")
            NoteFactory(body="outside")
            assert miniapp.notes("globex") == ["inside"]
            assert miniapp.notes("default") == ["outside"]

        @pytest.mark.tenants("initech", "acme")
        def test_marker_default_tenant(tenancy):
            NoteFactory(body="marked")
            assert miniapp.notes("initech") == ["marked"]
            assert miniapp.notes("acme") == []

        def test_subfactory_follows_its_parent_tenant(tenancy):
            post = PostFactory(tenant="acme")
            assert post.thread in tenancy.tenant("acme")
            path = tenancy.tenant_path("acme")
            assert rows(path, "SELECT id, thread_id FROM posts") == [(post.id, post.thread.id)]
            assert rows(path, "SELECT id FROM threads") == [(post.thread.id,)]
            assert "default" not in tenancy.tenants

        def test_related_object_carries_its_tenant(tenancy):
            thread = ThreadFactory(tenant="globex")
            post = PostFactory(thread=thread)
            assert post in tenancy.tenant("globex")
            assert rows(tenancy.tenant_path("globex"), "SELECT thread_id FROM posts") == [
                (thread.id,)
            ]

        def test_same_ids_in_two_tenants_are_two_rows(tenancy):
            a = ThreadFactory(tenant="acme", title="A")
            b = ThreadFactory(tenant="globex", title="B")
            assert a.id == b.id == 1
            assert tenancy.tenant("acme").get(Thread, 1).title == "A"
            assert tenancy.tenant("globex").get(Thread, 1).title == "B"

        def test_build_touches_no_database(tenancy):
            post = PostFactory.build(tenant="acme")
            assert post.thread.title and post.id is None
            assert tenancy.tenants == ()
        """
    )
    run(factory_project, "-p", "no:randomly").assert_outcomes(passed=9)


def test_system_factory_provisions_tenant_databases(factory_project):
    factory_project.makepyfile(
        test_provision="""
        import miniapp
        from shop import AccountFactory, NoteFactory

        def test_account_gets_its_tenant_database(tenancy):
            account = AccountFactory()
            assert tenancy.tenants == (account.id,)
            assert tenancy.tenant_path(account.id).exists()
            NoteFactory(tenant=account.id, body="welcome")
            assert miniapp.notes(account.id) == ["welcome"]

        def test_batch_provisions_each(tenancy):
            accounts = AccountFactory.create_batch(3)
            assert tenancy.tenants == tuple(a.id for a in accounts)
            assert [a.id for a in accounts] == ["account-0", "account-1", "account-2"]
        """
    )
    run(factory_project, "-p", "no:randomly").assert_outcomes(passed=2)


def test_commit_strategy(factory_project):
    factory_project.makepyfile(
        test_commits="""
        import factory
        import miniapp
        import pytest
        from sqlalchemy import event
        from sqlalchemy.exc import IntegrityError
        from shop import Account, AccountFactory, Note, NoteFactory, PostFactory, rows

        class DraftNoteFactory(NoteFactory):
            class Meta:
                sqlalchemy_session_persistence = None

        @pytest.fixture
        def commits(tenancy):
            counted = []
            event.listen(tenancy.tenant("acme"), "after_commit", counted.append)
            return counted

        def test_one_commit_per_top_level_call_and_per_batch(tenancy, commits):
            PostFactory(tenant="acme")
            assert len(commits) == 1
            NoteFactory.create_batch(5, tenant="acme")
            assert len(commits) == 2
            assert len(miniapp.notes("acme")) == 5

        def test_batch_values_vary_per_object(tenancy):
            NoteFactory.create_batch(2, tenant="acme", body=factory.Iterator(["x", "y"]))
            assert miniapp.notes("acme") == ["x", "y"]

        def test_persistence_none_leaves_the_commit_to_the_test(tenancy, commits):
            note = DraftNoteFactory(tenant="acme", body="draft")
            assert commits == []
            assert miniapp.notes("acme") == []
            tenancy.tenant("acme").commit()
            assert miniapp.notes("acme") == ["draft"]
            assert note.id == 1

        def test_failed_call_rolls_back_and_the_session_stays_usable(tenancy, system_db):
            AccountFactory(id="taken")
            with pytest.raises(IntegrityError):
                AccountFactory(id="taken")
            assert system_db.query(Account).count() == 1
            AccountFactory(id="free")
            assert rows(tenancy.system_path(), "SELECT id FROM accounts ORDER BY id") == [
                ("free",), ("taken",)
            ]
        """
    )
    run(factory_project, "-p", "no:randomly").assert_outcomes(passed=4)


def test_register_defines_pytest_factoryboy_style_fixtures(factory_project):
    write_conftest(
        factory_project,
        """
        from shop import PostFactory, ThreadFactory
        from tenantfixtures.factories import register

        register(ThreadFactory)
        register(PostFactory, "acme_post", tenant="acme", body="pinned")
        """,
    )
    factory_project.makepyfile(
        test_fixtures="""
        import pytest
        from shop import Thread, ThreadFactory, rows
        from tenantfixtures.factories import TenantFactoryError, register

        def test_model_and_factory_fixtures(thread, thread_factory, tenancy):
            assert thread_factory is ThreadFactory
            assert isinstance(thread, Thread) and thread in tenancy.tenant("default")

        def test_overrides_and_name(acme_post, tenancy):
            assert acme_post.body == "pinned"
            assert rows(tenancy.tenant_path("acme"), "SELECT body FROM posts") == [("pinned",)]

        def test_registering_a_taken_name_is_refused():
            with pytest.raises(TenantFactoryError) as excinfo:

                class Module:  # a namespace that already has a `thread`
                    thread = None
                    register(ThreadFactory)

            assert str(excinfo.value) == (
                "register(ThreadFactory): thread already defined in this module; pass another"
                " name, e.g. register(Factory, 'other_name')"
            )
        """,
        test_override="""
        import pytest
        from shop import ThreadFactory

        @pytest.fixture
        def thread_factory():
            class Titled(ThreadFactory):
                title = "overridden"
            return Titled

        def test_model_fixture_uses_the_overridden_factory(thread):
            assert thread.title == "overridden"
        """,
    )
    run(factory_project, "-p", "no:randomly").assert_outcomes(passed=4)


def test_routing_holds_under_xdist(factory_project):
    factory_project.makepyfile(
        test_parallel="""
        import miniapp
        import pytest
        from shop import NoteFactory

        @pytest.mark.parametrize("n", range(8))
        def test_each_test_its_own_tenant_rows(n, tenancy):
            NoteFactory.create_batch(n, tenant=f"t{n % 2}")
            assert tenancy.tenants == ((f"t{n % 2}",) if n else ())
            assert len(miniapp.notes(f"t{n % 2}")) == n
        """
    )
    run(factory_project, "-n", "2").assert_outcomes(passed=8)
