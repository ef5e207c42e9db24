"""Configuration: every default (:mod:`.defaults`), the schema shipped with the package
(``schema.yaml``), loading and validation (:mod:`.load`), the cross-checks kinds share
(:mod:`.checks`) and the expansion of a study into runs (:mod:`.runs`). What differs between kinds
of study is in the registry, :mod:`hptransfer.studies`.

Nothing is imported here, so that importing one part never pulls in the others.
"""
