"""The batch engine behind `graph.run`: streaming ids through compiled graphs (`engine`), worker processes
(`workers`) and live progress (`progress`). May import graph.build, graph.store, nodes and state."""
