"""Where records are written: MongoDB."""
