"""A runs filter by many tags is one grouped subquery over the (key, value) index, not one
subquery per tag (200 of those kept a PostgreSQL backend busy for minutes)."""

import pytest
from sqlalchemy import event

from opgraph_storage import create_storage
from opgraph_storage.records import RunRecord, RunsFilter


@pytest.mark.postgres
def test_twenty_tags_are_one_subquery_and_all_must_match(pg_storage_url):
    storage = create_storage(pg_storage_url)
    try:
        tags = {f"k{i}": f"v{i}" for i in range(20)}
        storage.add_run(RunRecord(run_id="all", job_name="j", tags=tags))
        storage.add_run(RunRecord(run_id="most", job_name="j", tags={**tags, "k19": "other"}))
        storage.add_run(RunRecord(run_id="none", job_name="j"))
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(storage.engine, "before_cursor_execute", record)
        try:
            found = storage.get_runs(RunsFilter(tags=tags))
        finally:
            event.remove(storage.engine, "before_cursor_execute", record)
        assert [run.run_id for run in found] == ["all"]
        runs_query = next(s for s in statements if "GROUP BY" in s)
        # One subquery filters by all twenty tags; the other reads each run's tags.
        assert runs_query.count("FROM run_tags") == 2, runs_query
        assert runs_query.count("GROUP BY") == 1, runs_query
        assert found[0].tags == tags
    finally:
        storage.dispose()
