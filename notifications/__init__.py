"""Notifications: composing and sending mail (installed as ``napflow.notifications``).

:mod:`~napflow.notifications.mailer` is the contract the services use (a rendered message,
a transport, delivery errors, the :class:`~napflow.notifications.mailer.Mailer` bundle);
:mod:`~napflow.notifications.render` fills the Jinja2 templates in ``templates/``,
:mod:`~napflow.notifications.compose` builds the e-mail, :mod:`~napflow.notifications.ics`
the calendar files, :mod:`~napflow.notifications.transports` sends by SMTP or to .eml files.

The code lives in the repository's top-level ``notifications/`` folder and installs inside
the napflow distribution (``napflow/notifications`` links to it). May import only napflow's
foundation modules; :mod:`napflow.runtime.bootstrap` wires the implementations in.
"""
