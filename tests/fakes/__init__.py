"""Stand-ins for external processes, so protocol code is tested without them."""
