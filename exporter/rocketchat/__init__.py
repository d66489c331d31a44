"""Talking to Rocket.Chat: aiohttp sessions, auth and login, size caps, failures as reasons."""
