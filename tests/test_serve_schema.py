"""Schemathesis: requests generated from /openapi.json, valid and invalid, never get a 5xx."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="kinema serve needs the serve extra: pip install -e '.[serve]'")
schemathesis = pytest.importorskip("schemathesis", reason="the schema test needs schemathesis (test extra)")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from kinema.serve.app import Settings  # noqa: E402
from kinema.serve.generate import WorldGenerator  # noqa: E402
from kinema.serve.testing import LiveServer  # noqa: E402

MAX_EXAMPLES = 10  # per operation and mode


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("schema") / "jobs.db"
    settings = Settings(db=db, max_upload_bytes=256 * 1024, moderator=lambda p: None)
    server = LiveServer(settings, lambda i: WorldGenerator(steps=1))
    with server as url:
        yield url
    store = server.app.state.store
    folders = {p.name for p in store.files_root.iterdir()}
    orphans = {f for f in folders if store.get(f) is None}
    assert not orphans, f"job folders without a job after the run: {sorted(orphans)[:5]}"


@pytest.fixture
def api(live):
    schema = schemathesis.openapi.from_url(live + "/openapi.json")
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
    return schema


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx(case, live):
    case.call_and_validate(base_url=live, checks=[not_a_server_error])
