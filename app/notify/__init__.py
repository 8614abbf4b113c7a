"""Outbound notifications: SMS, voice, signed webhooks and the console sink behind one small port (no database)."""
