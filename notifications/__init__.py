"""Notifications: e-mail templates and delivery (filled by the reminders issue, #3)."""
