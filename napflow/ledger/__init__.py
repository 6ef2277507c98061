"""The ledger layer: the history record, its canonical encoding and hash chain, verification.

A plan's history is an append-only chain of sealed records (see docs/architecture.md, "The
ledger"). :mod:`~napflow.ledger.record` is the one source of a record's fields and kinds,
:mod:`~napflow.ledger.chain` encodes and seals them, :mod:`~napflow.ledger.verification`
checks chains from a database or from an exported bundle.

No SQLAlchemy: may import napflow's foundation modules and :mod:`napflow.workflow`.
Appending records to a plan is a service (``napflow.services._records``).
"""
