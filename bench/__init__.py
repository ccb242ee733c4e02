"""wtop's benchmark: `sudo .venv/bin/python -m bench` (see README, Performance)."""
