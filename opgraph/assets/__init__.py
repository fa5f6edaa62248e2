"""Software-defined assets: Dagster's asset API, compiled to ordinary op jobs.

An `@asset` is an op whose outputs are named by asset keys; a job of assets is a graph of
those ops, so every executor runs it unchanged. The asset layer a compiled job carries
(`opgraph.assets.layer`) tells the step runner which outputs are materializations.
"""
