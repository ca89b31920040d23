"""The maintainers' tools: the docs generator, the mutants, the reference notebooks, the benchmark."""
