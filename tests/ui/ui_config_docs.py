"""A job whose op config fields carry descriptions in both styles, for the job page's config
table and the launchpad's hover docs (`docs`; loaded by the location's code server)."""

from pydantic import Field as PydanticField

from opgraph import Config, Field, Shape, job, op


class Tuning(Config):
    """How the model is tuned."""

    rate: float = PydanticField(0.5, description="learning rate per step")
    label: str
    """the name the results are kept under"""


@op(
    config_schema={
        "count": Field(int, description="how many rows to read"),
        "where": Field(
            Shape({"table": Field(str, description="the table read")}),
            description="where rows come from",
        ),
    }
)
def dagster_style(context) -> int:
    return int(context.op_config["count"])


@op
def pydantic_style(config: Tuning) -> float:
    return config.rate


@job
def described() -> None:
    dagster_style()
    pydantic_style()
