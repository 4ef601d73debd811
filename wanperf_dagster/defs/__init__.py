"""The Dagster layer: assets, partitions, resources, IO manager, automation, checks.

The only package that imports dagster; it wires the plain libraries (`mist`, `kpi`, `store`,
`simulator`) together and stays declarative.
"""
