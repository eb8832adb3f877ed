"""Serving OpenAI-compatible endpoints: the embedded SmolLM2 engines (vLLM, llama.cpp), the child-process
server and port probe, and the vLLM command for GPU models; `python -m graph.serve`. Imports no other wing of
graph; may import training (to prepare the embedded base model)."""
