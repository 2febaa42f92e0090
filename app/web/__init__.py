"""HTTP blueprints: thin views that parse, call one service function, and answer JSON."""
