"""Word lists bundled with the general-text operators (package data, read with importlib.resources)."""
