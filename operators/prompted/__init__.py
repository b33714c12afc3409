"""Prompted operators declared entirely in configuration (YAML), DataFlow's ``core_text`` prompted family."""
