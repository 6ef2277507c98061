"""The scheduler interface: the daemon that sends reminders, escalations and notices.

An interface like the CLI and the web app: it may import :mod:`napflow.services`,
:mod:`napflow.runtime` and napflow's foundation modules, nothing below the services.
"""
