"""The behaviour every provider owes, run against its real server or stand-in.

A provider's test module subclasses `ProviderContract` and fills in the hooks; the
tests here then hold it to the same rules as every other provider (create adopts,
delete is idempotent, read sees drift, errors are classified). Provider methods are
called directly, as the engine would call them, against live servers.

No case may pass vacuously: an injected fault must be shown to have fired
(`fault_fired`), the list of invalid inputs must not be empty, and outputs are
compared with the values expected from the inputs (`expected_outputs`).
"""
from __future__ import annotations

import secrets

import pytest

from providers.core.errors import NeedsOperator, NotOurs, ProviderError
from providers.core.resource import ProviderAdapter
from providers.core.retry import RetryPolicy

FAST_RETRY = RetryPolicy(deadline=5.0, first_delay=0.05, max_delay=0.2)
# The stack these tests create for (every object is marked with it), and another one.
OWNER = f"sub-test-{secrets.token_hex(4)}"
OTHER_OWNER = f"sub-other-{secrets.token_hex(4)}"


def marked(provider) -> bool:
    return any(d.name == "owner" for d in provider.INPUTS)


class ProviderContract:
    # --- hooks a provider's test class implements --------------------------------------
    def make_provider(self):
        raise NotImplementedError

    def new_inputs(self, unique: str) -> dict:
        """Valid inputs for a fresh object; `unique` makes names collision-free."""
        raise NotImplementedError

    def invalid_inputs(self, inputs: dict) -> list[tuple[dict, str]]:
        """(bad inputs, the property a CheckFailure must name)."""
        raise NotImplementedError

    def in_place_change(self, inputs: dict) -> tuple[dict, str]:
        """(new inputs, the property that changes without replacement)."""
        raise NotImplementedError

    def replacing_change(self, inputs: dict) -> tuple[dict, str] | None:
        """(new inputs, the property that forces replacement), or None."""
        raise NotImplementedError

    def exists_upstream(self, id_: str, outs: dict) -> bool:
        raise NotImplementedError

    def make_drift(self, id_: str, outs: dict) -> str:
        """Change the object behind the provider's back; return the property that drifted."""
        raise NotImplementedError

    def create_behind_pulumi(self, inputs: dict) -> str | None:
        """Create the object upstream the way a create that crashed before being recorded would
        (with this stack's mark, `inputs["owner"]`, where the provider marks its objects); return
        the id an adopting create must answer, or None when nothing a crash leaves can be adopted."""
        raise NotImplementedError

    def objects_upstream(self, inputs: dict) -> int:
        """How many objects upstream answer to the natural key of `inputs` (a domain, an address)."""
        raise NotImplementedError

    def create_foreign(self, inputs: dict) -> dict:
        """Make an object upstream with the natural key of `inputs` but without this stack's mark
        (through the server's own API, not the provider); return the inputs that want it."""
        raise NotImplementedError

    def upstream_snapshot(self, inputs: dict):
        """Everything upstream a refused create must leave as it was (compared for equality)."""
        raise NotImplementedError

    def foreign_still_works(self, inputs: dict) -> bool:
        """The foreign object still serves its owner (a login, an answer), beyond its bytes."""
        return True

    def remove_foreign(self, inputs: dict) -> None:
        pass

    def expected_outputs(self, inputs: dict) -> dict:
        """Output values create and read must report for these (checked) inputs."""
        raise NotImplementedError

    def inject_fault(self, transient: bool) -> None:
        raise NotImplementedError

    def fault_fired(self) -> bool:
        """Evidence (a request log, a hit counter) that the injected transient fault was met."""
        raise NotImplementedError

    def clear_faults(self) -> None:
        pass

    # --- shared fixtures -------------------------------------------------------------------
    @pytest.fixture
    def provider(self, settings):
        provider = self.make_provider()
        provider.retry = FAST_RETRY
        yield provider
        self.clear_faults()

    @pytest.fixture
    def inputs(self, provider):
        return self.new_inputs(secrets.token_hex(3))

    @pytest.fixture
    def created(self, provider, inputs):
        checked = provider.check({}, inputs)
        assert not checked.failures, checked.failures
        result = provider.create(checked.inputs)
        yield result.id, {**checked.inputs, **result.outs}
        try:
            provider.delete(result.id, {**checked.inputs, **result.outs})
        except ProviderError:
            pass

    # --- the contract ----------------------------------------------------------------------
    def test_the_provider_has_the_one_shape(self, provider):
        assert isinstance(provider, ProviderAdapter)
        assert provider.PROVIDER and provider.INPUTS
        declared = {i.name for i in provider.INPUTS}
        assert set(provider.REPLACES) | set(provider.NOT_DIFFED) | set(provider.GENERATED) <= declared

    def test_check_accepts_valid_inputs(self, provider, inputs):
        assert provider.check({}, inputs).failures == []

    def test_check_names_the_property_at_fault(self, provider, inputs):
        cases = self.invalid_inputs(inputs)
        assert cases, "a provider must name at least one invalid input"
        for bad, prop in cases:
            failures = provider.check({}, bad).failures
            assert [f.property for f in failures] and prop in [f.property for f in failures], (bad, failures)
            assert all(f.reason for f in failures)

    def test_create_makes_a_real_object_that_read_observes(self, provider, created):
        id_, outs = created
        assert self.exists_upstream(id_, outs)
        expected = self.expected_outputs(provider.check({}, outs).inputs)
        assert expected, "a provider must say which outputs it reports"
        assert {k: outs.get(k) for k in expected} == expected
        read = provider.read(id_, outs)
        assert read.id == id_
        assert {k: read.outs.get(k) for k in expected} == expected

    def test_diff_of_identical_inputs_is_no_change(self, provider, created, inputs):
        id_, outs = created
        diff = provider.diff(id_, outs, provider.check(outs, inputs).inputs)
        assert diff.changes is False

    def test_an_in_place_change_updates_without_replacement(self, provider, created, inputs):
        id_, outs = created
        news, prop = self.in_place_change(inputs)
        news = provider.check(outs, news).inputs
        diff = provider.diff(id_, outs, news)
        assert diff.changes is True and prop not in (diff.replaces or [])
        updated = provider.update(id_, outs, news)
        after = provider.read(id_, {**outs, **updated.outs})
        assert after.outs[prop] == news[prop]

    def test_a_replacing_change_is_flagged_as_replacement(self, provider, created, inputs):
        change = self.replacing_change(inputs)
        if change is None:
            pytest.skip("this provider has no property that forces replacement")
        id_, outs = created
        news, prop = change
        news = provider.check(outs, news).inputs
        if provider.CUSTOMER_DATA:
            # Customer data is never replaced by a converge: the run stops for an operator.
            with pytest.raises(NeedsOperator) as caught:
                provider.diff(id_, outs, news)
            assert caught.value.code == "needs_operator" and not caught.value.retryable
            assert prop in caught.value.message and "operator" in caught.value.message
            assert self.exists_upstream(id_, outs)
            return
        diff = provider.diff(id_, outs, news)
        assert diff.changes is True and prop in diff.replaces

    def test_a_change_of_owner_is_never_an_update(self, provider, created, inputs):
        if not marked(provider):
            pytest.skip("this provider marks no upstream object")
        id_, outs = created
        news = provider.check(outs, {**inputs, "owner": OTHER_OWNER}).inputs
        with pytest.raises(NeedsOperator) as caught:
            provider.diff(id_, outs, news)
        assert caught.value.code == "owner_changed" and not caught.value.retryable
        assert OWNER in caught.value.message and OTHER_OWNER in caught.value.message

    def test_create_refuses_an_object_without_our_mark_and_leaves_it_intact(self, provider, inputs):
        if not marked(provider):
            pytest.skip("this provider marks no upstream object")
        checked = provider.check({}, inputs).inputs
        wanted = provider.check({}, self.create_foreign(checked)).inputs
        try:
            before = self.upstream_snapshot(wanted)
            with pytest.raises(NotOurs) as caught:
                provider.create(wanted)
            assert caught.value.code == "not_ours" and not caught.value.retryable
            assert caught.value.provider == provider.PROVIDER and "refusing" in caught.value.message
            assert self.upstream_snapshot(wanted) == before
            assert self.foreign_still_works(wanted)
        finally:
            self.remove_foreign(wanted)

    def test_a_create_repeated_after_a_crash_adopts_what_the_first_made(self, provider, inputs):
        if not marked(provider):
            pytest.skip("this provider marks no upstream object")
        checked = provider.check({}, inputs).inputs
        first = provider.create(checked)
        try:
            second = provider.create(checked)  # the first's answer never reached the state
            assert second.id == first.id
            assert self.exists_upstream(second.id, {**checked, **second.outs})
        finally:
            provider.delete(first.id, {**checked, **first.outs})

    def test_read_shows_drift_made_behind_its_back(self, provider, created):
        id_, outs = created
        prop = self.make_drift(id_, outs)
        assert provider.read(id_, outs).outs[prop] != outs[prop]

    def test_read_of_a_vanished_object_reports_it_deleted(self, provider, created):
        id_, outs = created
        provider.delete(id_, outs)
        assert not self.exists_upstream(id_, outs)
        assert provider.read(id_, outs).id in ("", None)

    def test_create_adopts_an_object_left_by_a_crash(self, provider, inputs):
        checked = provider.check({}, inputs).inputs
        left = self.create_behind_pulumi(checked)
        if left is None:
            pytest.skip("nothing a crashed create leaves can be adopted by this provider")
        result = provider.create(checked)
        try:
            # Adopted: the very object the crash left, and no second one beside it.
            assert result.id == left
            assert self.objects_upstream(checked) == 1
            assert self.exists_upstream(result.id, {**checked, **result.outs})
        finally:
            provider.delete(result.id, {**checked, **result.outs})

    def test_delete_twice_succeeds(self, provider, created):
        id_, outs = created
        provider.delete(id_, outs)
        provider.delete(id_, outs)
        assert not self.exists_upstream(id_, outs)

    def test_a_transient_fault_is_retried(self, provider, inputs):
        self.inject_fault(transient=True)
        checked = provider.check({}, inputs).inputs
        result = provider.create(checked)
        try:
            assert self.fault_fired(), "the injected fault never fired: this test proved nothing"
            assert self.exists_upstream(result.id, {**checked, **result.outs})
        finally:
            self.clear_faults()
            provider.delete(result.id, {**checked, **result.outs})

    def test_a_permanent_fault_fails_at_once_with_a_clear_message(self, provider, inputs):
        self.inject_fault(transient=False)
        with pytest.raises(ProviderError) as caught:
            provider.create(provider.check({}, inputs).inputs)
        assert not caught.value.retryable
        assert caught.value.provider == provider.PROVIDER and caught.value.message
        assert caught.value.reason == f"{provider.PROVIDER}: {caught.value.message}"
