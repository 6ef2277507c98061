"""The workflow layer: what a workflow is and how a plan may move through it.

Definition files (TOML) and their checks, deadline kinds and their reminder ladders,
conditions, the facts a decision reads, the engine (one transitions Machine per workflow),
the catalog of workflow files, diagrams, and the calendar arithmetic of deadlines. The
workflow files shipped with napflow are the repository's top-level ``workflows/`` folder,
installed here as ``builtin/``.

Pure: no database, no mail, no settings. May import only napflow's foundation modules
(``napflow.errors``, ``napflow.clock``, ``napflow.inputs``, ``napflow.timezones``).
"""
