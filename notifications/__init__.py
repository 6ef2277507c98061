"""Notifications: message templates, .ics files and transports (SMTP, or .eml files).

napflow's services never import this package; :mod:`napflow.bootstrap` builds the
:class:`~napflow.delivery.Mailer` from it.
"""
