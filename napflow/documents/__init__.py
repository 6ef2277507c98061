"""Documents: what a draft's bytes are (sniffed, never taken from the name).

A domain layer beside :mod:`napflow.workflow`: it imports napflow's foundation modules and
well-kept libraries only, never storage or the services.
"""
