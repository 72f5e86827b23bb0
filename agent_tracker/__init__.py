"""agent-tracker: record how AI coding agents perform across projects, and rank their setups."""

__version__ = "0.1.0"
