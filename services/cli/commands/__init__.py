"""The `garminsync` commands, one module per family; each parses, calls one use case, renders."""
