"""The Dagster plumbing the definitions in `defs/` use: resources, the IO manager, the stored-value
API (`storage`, free of Dagster imports), partitions and metadata conventions.

Nothing here is a definition that `load_from_defs_folder` should find; `definitions.py` binds the
resources to the code location. Import the submodules directly: this package imports nothing, so
`storage` can be used without loading Dagster.
"""
