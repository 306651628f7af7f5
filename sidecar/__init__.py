"""Agent History: a durable, searchable memory for AI coding agents, served over stdio."""

__version__ = "0.1.0"
