"""Building SFT data from a run store: store access, the paper's filters, chat records, the data card,
the chat format training applies and token counting. May import training.errors and training.cache (and state.errors, as every package may)."""
