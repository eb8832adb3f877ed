"""The LangGraph pipeline and its commands: the graph factory (`build`), the entry points `run`, `merge`,
`export` and the shared CLI helpers (`cli`) on top; serving, the store, the batch engine, query synthesis,
the trace viewer and the run report in wings. May import nodes, state, prompts and training (records,
base-model preparation); nothing imports graph but eval (for the embedded server)."""
