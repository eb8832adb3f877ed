"""The LLM client: the interface and its result/error types (`client`, which imports no implementation),
the aiohttp client (`http`) with its wire format, request budgets, endpoint discovery and routing, the
LangChain client, and `factory.make_client`. May import state only."""
