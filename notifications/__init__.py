"""Notifications: composing and sending mail (installed as ``napflow.notifications``).

:mod:`~napflow.notifications.mailer` is the contract the services use (a rendered message,
a transport, delivery errors, the :class:`~napflow.notifications.mailer.Mailer` bundle);
:mod:`~napflow.notifications.render` fills the Jinja2 templates in ``templates/``,
:mod:`~napflow.notifications.compose` builds the e-mail and
:mod:`~napflow.notifications.ics` the calendar files; the transports are
:mod:`~napflow.notifications.smtp` and :mod:`~napflow.notifications.eml` (.eml files).

The code lives in the repository's top-level ``notifications/`` folder and installs inside
the napflow distribution (``napflow/notifications`` links to it). May import only napflow's
foundation modules; :mod:`napflow.runtime.bootstrap` wires the implementations in.
"""
