"""Redis I/O and reply parsing, one module per command family."""
