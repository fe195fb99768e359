"""Notifications: message center, templates per event, SMS / WeChat delivery, scheduled reminders."""
