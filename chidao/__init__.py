"""chidao: the faces of the engine (CLI, webhook app, settings). Lower layers never import this package."""
