"""Which tags a client may set on a run."""

from opgraph.client_tags import client_tag_problems


def test_system_tags_are_the_platforms():
    refused = dict(
        client_tag_problems(
            {
                "opgraph/schedule_name": "nightly",
                "opgraph/parent_run_id": "r1",
                "opgraph/launched_by": "schedule nightly",  # the UI would show this verbatim
                "team": "x" * 1025,
            }
        )
    )
    assert set(refused) == {
        "opgraph/schedule_name",
        "opgraph/parent_run_id",
        "opgraph/launched_by",
        "team",
    }
    assert "set by the platform" in refused["opgraph/schedule_name"]
    assert "['dev', 'ui']" in refused["opgraph/launched_by"]


def test_user_settings_and_the_platforms_own_clients_are_accepted():
    assert (
        client_tag_problems(
            {
                "opgraph/max_retries": "2",
                "opgraph/priority": "5",
                "opgraph/launched_by": "ui",
                "team": "data",
            }
        )
        == []
    )
