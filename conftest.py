"""Loads the ballast pytest plugin (also registered as the pytest11 entry point
``ballast.plugin``; the identical name keeps the two registrations from colliding)."""

pytest_plugins = ["ballast.plugin"]
