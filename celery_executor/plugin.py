"""What the Celery plugin adds to opgraph, named by its entry points (setup.cfg): the
`celery` run launcher. (The executor is `opgraph_celery.celery_executor`, the `celery:`
section `opgraph_celery.config.CeleryConfig`, the step sweeper and terminator
`opgraph_celery.sweeper`.) Light on purpose: reading instance.yaml imports this module,
not Celery."""

from __future__ import annotations

from opgraph.plugins import ComponentPlugin
from opgraph_celery.config import CeleryLauncherConfig

CELERY_LAUNCHER = ComponentPlugin(
    module=f"{__package__}.run_launcher",
    class_name="CeleryRunLauncher",
    config_model=CeleryLauncherConfig,
)
