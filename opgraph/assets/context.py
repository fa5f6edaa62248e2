"""AssetExecutionContext: what an asset function sees as `context`."""

from __future__ import annotations

from typing import Any

from opgraph.assets.keys import AssetCheckKey, AssetKey
from opgraph.errors import OpgraphError
from opgraph.partitions import context as partition_context


class AssetExecutionContext:
    """Wraps the op's context; everything an op context has is reachable here too."""

    def __init__(self, op_context: Any, assets_def: Any):
        self._op_context = op_context
        self._assets_def = assets_def

    def __getattr__(self, name: str) -> Any:
        return getattr(self._op_context, name)

    @property
    def op_execution_context(self) -> Any:
        return self._op_context

    @property
    def assets_def(self) -> Any:
        return self._assets_def

    @property
    def asset_key(self) -> AssetKey:
        return self._assets_def.key

    @property
    def selected_asset_keys(self) -> set[AssetKey]:
        return set(self._assets_def.keys)

    @property
    def selected_output_names(self) -> set[str]:
        outputs = self._assets_def.output_names_by_key
        return {outputs[k] for k in self._assets_def.keys if k in outputs}

    @property
    def selected_asset_check_keys(self) -> set[AssetCheckKey]:
        return self._assets_def.check_keys

    def asset_key_for_output(self, output_name: str = "result") -> AssetKey:
        return self._assets_def.keys_by_output_name[output_name]

    def asset_key_for_input(self, input_name: str) -> AssetKey:
        return self._assets_def.keys_by_input_name[input_name]

    def output_for_asset_key(self, asset_key: AssetKey) -> str:
        return self._assets_def.output_names_by_key[asset_key]

    def log_event(self, event: Any) -> None:
        self._op_context.log_event(event)

    def add_output_metadata(self, metadata: dict[str, Any], output_name: str = "result") -> None:
        self._op_context.add_output_metadata(metadata, output_name)

    # -- partitions (opgraph.partitions: read from the run's tags) -------------------------
    def _partitions_def(self) -> Any:
        return self._assets_def.partitions_def or self._op_context.partitions_def

    @property
    def has_partition_key(self) -> bool:
        return partition_context.has_partition_key(self._op_context.run.tags)

    @property
    def has_partition_key_range(self) -> bool:
        return partition_context.has_partition_key_range(self._op_context.run.tags)

    @property
    def partition_key(self) -> str:
        return partition_context.partition_key(self._op_context.run.tags, self._partitions_def())

    @property
    def partition_keys(self) -> Any:
        return partition_context.partition_keys(self._op_context.run.tags, self._partitions_def())

    @property
    def partition_key_range(self) -> Any:
        return partition_context.partition_key_range(
            self._op_context.run.tags, self._partitions_def()
        )

    @property
    def partition_time_window(self) -> Any:
        return partition_context.partition_time_window(
            self._op_context.run.tags, self._partitions_def()
        )

    def asset_partition_key_for_output(self, output_name: str = "result") -> str:
        return self.partition_key

    def asset_partition_keys_for_output(self, output_name: str = "result") -> Any:
        return self.partition_keys

    def asset_partition_keys_for_input(self, input_name: str) -> list[str]:
        """The upstream partitions this input reads in this run (by its partition mapping)."""
        from opgraph.partitions.assets import input_partition_keys

        upstream_key = self.asset_key_for_input(input_name)
        graph = getattr(self._op_context.job_def, "asset_graph", None)
        upstream = graph.assets_def_by_key.get(upstream_key) if graph is not None else None
        keys = input_partition_keys(
            self._assets_def,
            upstream,
            upstream_key,
            self._op_context.run.tags,
            self._op_context.instance,
        )
        if keys is None:
            raise OpgraphError(
                f"input {input_name!r} reads {upstream_key.to_user_string()}, which is not partitioned"
            )
        return keys

    def asset_partition_key_for_input(self, input_name: str) -> str:
        keys = self.asset_partition_keys_for_input(input_name)
        if len(keys) != 1:
            raise OpgraphError(
                f"input {input_name!r} reads {len(keys)} upstream partitions in this run "
                f"({keys[:3]}...): use asset_partition_keys_for_input"
            )
        return keys[0]
