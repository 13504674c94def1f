"""Adapters: Telegram, the terminal, the scheduler wiring and the command line."""
