"""The torch-free runtime: load an exported model, conform records to its contract, run an engine."""
