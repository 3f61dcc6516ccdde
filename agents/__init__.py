"""Stream processors, one module per concern; installed as ``cryptoflow.agents``."""
