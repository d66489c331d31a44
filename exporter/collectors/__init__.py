"""The optional collectors' pure parsers, one module per Rocket.Chat endpoint group.

Each turns an answer (a dict, or text for /health) into a typed record and raises only
ParseError. The requests, schedules, metric families and rendering that will use them are
issue 13's collector registry (see CONTRIBUTING.md); the parsers come first, tested on every
fixture of ../shared/fixtures.
"""
