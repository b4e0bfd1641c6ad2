"""The clause catalogue: extraction from the spec sources, model, checks, CLI."""
