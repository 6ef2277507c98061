"""Workflow definitions shipped with napflow: one TOML file per workflow, no code.

Only the wiring place (:mod:`napflow.bootstrap`) looks this package up, to find the files.
"""
